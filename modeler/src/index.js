// The analysts' modeler: bpmn-js with the Camunda 7 properties panel, so lanes, candidate
// groups, forms (camunda:formData) and our properties (stage, timeLimit) are edited in the
// browser. Save stores a draft and shows its validation report; clicking a finding selects
// its element; Deploy makes the draft the item's newest version. No inline script: the page
// passes its URLs, CSRF token and the words it shows (in the page's language) as data
// attributes; the diagram's own wording (palette, context pad, properties panel) is
// translated by the customTranslate module.
import Modeler from 'bpmn-js/lib/Modeler';
import {
  BpmnPropertiesPanelModule,
  BpmnPropertiesProviderModule,
  CamundaPlatformPropertiesProviderModule,
} from 'bpmn-js-properties-panel';
import camundaModdle from 'camunda-bpmn-moddle/resources/camunda.json';
import translateModule from './translate';
import translatePanelTitles from './translate-panel';

const root = document.getElementById('modeler');
const urls = root.dataset;
const report = document.getElementById('report');
const status = document.getElementById('status');

const modeler = new Modeler({
  container: '#canvas',
  propertiesPanel: { parent: '#properties' },
  additionalModules: [
    BpmnPropertiesPanelModule,
    BpmnPropertiesProviderModule,
    CamundaPlatformPropertiesProviderModule,
    translateModule,
  ],
  moddleExtensions: { camunda: camundaModdle },
});
window.oneWindowModeler = modeler; // for the browser tests
translatePanelTitles(document.getElementById('properties'));

function say(text, kind) {
  status.textContent = text;
  status.className = 'flash ' + (kind || 'info');
  status.hidden = !text;
}

function select(elementId) {
  const registry = modeler.get('elementRegistry');
  const element = elementId && registry.get(elementId);
  if (!element) {
    return;
  }
  modeler.get('selection').select(element);
  modeler.get('canvas').scrollToElement(element);
}

function showReport(findings) {
  report.replaceChildren();
  for (const finding of findings) {
    const item = document.createElement('li');
    item.className = 'finding ' + finding.severity;
    item.dataset.code = finding.code;
    if (finding.element_id) {
      item.dataset.element = finding.element_id;
    }
    const line = finding.line ? urls.lineLabel.replace('{n}', finding.line) : null;
    const where = [finding.element_id, line].filter(Boolean).join(', ');
    const severity = finding.severity === 'error' ? urls.errorLabel : urls.warningLabel;
    item.textContent = `${severity}: ${finding.message}` + (where ? ` (${where})` : '');
    item.addEventListener('click', () => select(finding.element_id));
    report.appendChild(item);
  }
}

async function post(url, body, type) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': type, 'X-CSRFToken': urls.csrf },
    body,
    credentials: 'same-origin',
  });
  let data = {};
  try {
    data = await response.json();
  } catch (error) {
    data = { message: response.statusText };
  }
  return { ok: response.ok, data };
}

async function save() {
  const { xml } = await modeler.saveXML({ format: true });
  const { ok, data } = await post(urls.saveUrl, xml, 'application/xml');
  if (!ok) {
    say(data.message || urls.saveFailed, 'error');
    return;
  }
  showReport(data.findings || []);
  root.dataset.errors = String(data.errors);
  root.dataset.warnings = String(data.warnings);
  say(data.summary, data.errors ? 'error' : data.warnings ? 'info' : 'success');
}

async function deploy() {
  // a deployment changes the procedure of every new case: asked first, and the server
  // deploys only a confirmed request
  if (!window.confirm(urls.deployConfirm)) {
    return;
  }
  const comment = document.getElementById('comment').value;
  await save();
  const { ok, data } = await post(urls.deployUrl, JSON.stringify({ comment, confirm: true }),
    'application/json');
  if (!ok) {
    if (data.findings) {
      showReport(data.findings);
    }
    say(data.message || urls.deployFailed, 'error');
    return;
  }
  root.dataset.deployed = String(data.version);
  say(data.summary, 'success');
}

// A diagram by the id the server lists: its BPMNDiagram id, or "#n" (n from 1) for one
// without an id of its own.
function findDiagram(id) {
  const diagrams = modeler.getDefinitions().diagrams || [];
  const position = /^#(\d+)$/.exec(id);
  return position ? diagrams[Number(position[1]) - 1] : diagrams.find((d) => d.id === id);
}

// Show another diagram of the file (a pool, a process, a sub-process); edits made so far
// stay in the file, which Save stores whole.
async function show(id) {
  const diagram = findDiagram(id);
  if (!diagram) {
    say(urls.noDiagram + ' ' + id, 'error');
    return;
  }
  await modeler.open(diagram);
  modeler.get('canvas').zoom('fit-viewport');
  root.dataset.diagram = id;
  const chooser = document.getElementById('diagram');
  if (chooser) {
    chooser.value = id;
  }
  const address = new URL(window.location.href);
  address.searchParams.set('diagram', id);
  window.history.replaceState(null, '', address);
}

async function open() {
  const response = await fetch(urls.xmlUrl, { credentials: 'same-origin' });
  const xml = await response.text();
  try {
    const { warnings } = await modeler.importXML(xml);
    if (urls.diagram) {
      // bpmn-js opens the first diagram; the server chose the executable or asked one
      const diagram = findDiagram(urls.diagram);
      if (diagram && diagram !== modeler.getDefinitions().diagrams[0]) {
        await modeler.open(diagram);
      }
    }
    root.dataset.loaded = 'true';
    root.dataset.importWarnings = String(warnings.length);
    modeler.get('canvas').zoom('fit-viewport');
  } catch (error) {
    root.dataset.loaded = 'error';
    say(urls.openFailed + ' ' + error.message, 'error');
  }
}

document.getElementById('save').addEventListener('click', save);
const diagramChooser = document.getElementById('diagram');
if (diagramChooser) {
  diagramChooser.addEventListener('change', () => show(diagramChooser.value));
}
document.getElementById('deploy').addEventListener('click', deploy);
open();
