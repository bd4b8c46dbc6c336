// The properties panel's own controls (toggle a section, add a list item, a section's edit
// and error marks) take their titles from a `translate` prop that bpmn-js-properties-panel
// does not hand to the groups it builds, so they stayed English. This provider runs after
// all the others (lowest priority) and gives every group, list item and entry the
// diagram's translate service.
function withTranslate(translate, part) {
  return part && typeof part === 'object' && !part.translate ? { ...part, translate } : part;
}

function TranslatedPanel(propertiesPanel, translate) {
  propertiesPanel.registerProvider(1, {
    getGroups: () => (groups) =>
      groups.map((group) => {
        const out = withTranslate(translate, group);
        if (Array.isArray(group.entries)) {
          out.entries = group.entries.map((entry) => withTranslate(translate, entry));
        }
        if (Array.isArray(group.items)) {
          out.items = group.items.map((item) => withTranslate(translate, item));
        }
        return out;
      }),
  });
}
TranslatedPanel.$inject = ['propertiesPanel', 'translate'];

export default {
  __init__: ['translatedPanel'],
  translatedPanel: ['type', TranslatedPanel],
};
