// A bpmn-js translation module: replaces diagram-js's `translate` with one that looks the
// English template up in the page language's dictionary (Chinese when the page is zh),
// then fills in the {placeholders} as the default translate does.
import zh from './zh';

const DICTIONARIES = { zh };

function pageDictionary() {
  const lang = (document.documentElement.lang || 'en').toLowerCase().split('-')[0];
  return DICTIONARIES[lang] || {};
}

export function customTranslate(template, replacements) {
  const dictionary = customTranslate.dictionary;
  const text = dictionary[template] || template;
  return text.replace(/{([^}]+)}/g, (_, key) => {
    const value = (replacements || {})[key];
    return value === undefined ? '{' + key + '}' : value;
  });
}
customTranslate.dictionary = pageDictionary();

export default {
  translate: ['value', customTranslate],
};
