// The properties panel's own controls (toggle a section, add a list item, a section's edit
// and error marks) take their titles from a `translate` prop that bpmn-js-properties-panel
// does not hand to the groups it builds, so their tooltips stayed English. Handing the
// service to the groups through a provider changed how new list items open, so instead the
// titles are worded where they are shown: a MutationObserver on the panel rewrites exactly
// these tooltips through the same dictionary, and touches nothing else.
import { customTranslate } from './translate';

const CONTROLS = new Set([
  'Toggle section',
  'Section contains edits',
  'Section contains an error',
  'Create new list item',
  'Toggle list item',
  'Delete item',
  'Open documentation',
]);

function reword(root) {
  for (const element of root.querySelectorAll('[title]')) {
    const title = element.getAttribute('title');
    const worded = CONTROLS.has(title) ? customTranslate(title) : title;
    if (worded !== title) {
      // only a changed title is set: setting it again would wake the observer for ever
      element.setAttribute('title', worded);
    }
  }
}

export default function translatePanelTitles(root) {
  if (!root) {
    return;
  }
  new MutationObserver(() => reword(root)).observe(root, {
    subtree: true,
    childList: true,
    attributes: true,
    attributeFilter: ['title'],
  });
  reword(root);
}
