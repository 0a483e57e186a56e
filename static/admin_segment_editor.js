/* The segment editor: a tree of groups ("All of these", "Any of these", "None of these") and conditions, each a row
 * of selects, built from the JSON definition in the form's textarea and written back into it on every change. The
 * textarea is the form's field: without this script it is the editor, and with it the field is hidden.
 *
 * The page says what to offer in #segment-fields (JSON: each field with its label, its operators and the input each
 * operator's value needs, and the depth limit); the server checks whatever is sent, and its errors name a path
 * (all.2.any.0) that this script maps back to the row it names. As conditions change, the count is asked of
 * data-count-url (debounced); it answers the count, a sample for staff allowed to see subscribers, or an error. */
(function () {
  'use strict';

  var COUNT_DELAY_MS = 400;
  var KINDS = [['all', 'All of these'], ['any', 'Any of these'], ['none', 'None of these']];
  var locale = document.documentElement.lang || 'en-GB';

  var editor = document.querySelector('[data-segment-editor]');
  var catalogueNode = document.getElementById('segment-fields');
  if (!editor || !catalogueNode) return;
  var form = editor.closest('form');
  var textarea = form.querySelector('textarea[name="definition"]');
  var jsonBox = form.querySelector('[data-segment-json]');
  var tree = editor.querySelector('[data-segment-tree]');
  var generalError = editor.querySelector('[data-general-error]');
  var countBox = form.querySelector('[data-segment-count]');
  var catalogue = JSON.parse(catalogueNode.textContent);
  var fields = {};
  catalogue.fields.forEach(function (f) { fields[f.field] = f; });

  var root;
  try {
    root = fromJSON(JSON.parse(textarea.value));
  } catch (err) {
    return; // not a definition this editor can draw (a typing error in the JSON): the textarea stays the editor
  }
  if (!root || root.type !== 'group') return;

  // The model --------------------------------------------------------------------------------------------------

  function fromJSON(node) {
    if (!node || typeof node !== 'object' || Array.isArray(node)) throw new Error('not an object');
    if ('field' in node || 'op' in node) return { type: 'condition', field: node.field, op: node.op, value: node.value };
    var kind = Object.keys(node)[0];
    if (!Array.isArray(node[kind])) throw new Error('not a group');
    return { type: 'group', kind: kind, items: node[kind].map(fromJSON) };
  }

  function toJSON(node) {
    if (node.type === 'group') {
      var group = {};
      group[node.kind] = node.items.map(toJSON);
      return group;
    }
    var condition = { field: node.field, op: node.op };
    if (node.value !== undefined) condition.value = node.value;
    return condition;
  }

  function fieldOf(name, node) {
    if (fields[name]) return fields[name];
    // A field the catalogue no longer has (an attribute deleted since): kept as it is, for the server to refuse.
    var input = node && node.value === undefined ? 'none' : typeof (node && node.value) === 'number' ? 'number' : 'text';
    return { field: name, label: name + ' (no longer exists)', group: 'Unknown', ops: [{ op: node.op, label: node.op, input: input }] };
  }

  function opOf(field, op) {
    for (var i = 0; i < field.ops.length; i++) if (field.ops[i].op === op) return field.ops[i];
    return field.ops[0];
  }

  function defaultValue(field, input) {
    var choices = field.choices || [];
    switch (input) {
      case 'none': return undefined;
      case 'days': return 30;
      case 'count_days': return { count: 2, days: 7 };
      case 'boolean': return true;
      case 'number': return null;
      case 'choices': return choices.length ? [choices[0][0]] : [];
      case 'choice': case 'topic': case 'campaign': return choices.length ? choices[0][0] : null;
      default: return '';
    }
  }

  function newCondition() {
    var field = catalogue.fields[0];
    var op = field.ops[0];
    return { type: 'condition', field: field.field, op: op.op, value: defaultValue(field, op.input) };
  }

  // Drawing ----------------------------------------------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === 'text') node.textContent = attrs[name];
      else node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  function option(value, label, selected) {
    var node = el('option', { value: String(value), text: label });
    if (selected) node.selected = true;
    return node;
  }

  function button(label, cls, onClick, ariaLabel) {
    var node = el('button', { type: 'button', class: 'button button-small ' + cls, text: label });
    if (ariaLabel) node.setAttribute('aria-label', ariaLabel);
    node.addEventListener('click', onClick);
    return node;
  }

  function render() {
    var focused = document.activeElement && document.activeElement.getAttribute('data-focus');
    tree.textContent = '';
    tree.appendChild(drawGroup(root, null, 'definition', 1));
    if (focused) {
      var again = tree.querySelector('[data-focus="' + focused + '"]');
      if (again) again.focus();
    }
    changed();
  }

  function drawGroup(group, parent, path, depth) {
    var here = path === 'definition' ? group.kind : path + '.' + group.kind;
    var kind = el('select', { 'aria-label': 'Match', 'data-role': 'kind', 'data-focus': path + ':kind' });
    KINDS.forEach(function (k) { kind.appendChild(option(k[0], k[1], k[0] === group.kind)); });
    kind.addEventListener('change', function () { group.kind = kind.value; render(); });
    var head = el('div', { class: 'segment-group__head' }, [kind]);
    if (parent) {
      head.appendChild(button('Remove group', 'button-secondary segment-remove', function () {
        parent.items.splice(parent.items.indexOf(group), 1);
        render();
      }));
    }
    var items = el('div', { class: 'segment-group__items' });
    group.items.forEach(function (item, i) {
      var itemPath = here + '.' + i;
      items.appendChild(item.type === 'group' ? drawGroup(item, group, itemPath, depth + 1) : drawCondition(item, group, itemPath));
    });
    if (!group.items.length) {
      items.appendChild(el('p', { class: 'w-help-text segment-empty', text: parent ? 'An empty group: add a condition or remove it.' : 'No conditions: everyone.' }));
    }
    var actions = el('div', { class: 'segment-group__actions' }, [
      button('Add condition', 'button-secondary', function () { group.items.push(newCondition()); render(); })
    ]);
    if (depth < catalogue.max_depth) {
      actions.appendChild(button('Add group', 'button-secondary', function () {
        group.items.push({ type: 'group', kind: 'any', items: [newCondition()] });
        render();
      }));
    }
    return el('fieldset', { class: 'segment-group' + (parent ? '' : ' segment-group--root'), 'data-node': 'group', 'data-path': path, 'data-here': here }, [
      el('legend', { class: 'w-sr-only', text: parent ? 'A group of conditions' : 'The conditions' }),
      head,
      el('p', { class: 'segment-error', 'data-error': '', role: 'alert', hidden: '' }),
      items,
      actions
    ]);
  }

  function drawCondition(condition, parent, path) {
    var field = fieldOf(condition.field, condition);
    var fieldSelect = el('select', { 'aria-label': 'Field', 'data-role': 'field', 'data-focus': path + ':field' });
    var groups = {};
    catalogue.fields.concat(fields[condition.field] ? [] : [field]).forEach(function (f) {
      if (!groups[f.group]) {
        groups[f.group] = el('optgroup', { label: f.group });
        fieldSelect.appendChild(groups[f.group]);
      }
      groups[f.group].appendChild(option(f.field, f.label, f.field === condition.field));
    });
    fieldSelect.addEventListener('change', function () {
      var chosen = fields[fieldSelect.value];
      var keep = opOf(chosen, condition.op);
      condition.field = chosen.field;
      condition.op = keep.op;
      condition.value = defaultValue(chosen, keep.input);
      render();
    });
    var op = opOf(field, condition.op);
    var opSelect = el('select', { 'aria-label': 'Operator', 'data-role': 'op', 'data-focus': path + ':op' });
    field.ops.forEach(function (o) { opSelect.appendChild(option(o.op, o.label, o.op === op.op)); });
    opSelect.addEventListener('change', function () {
      var before = opOf(field, condition.op).input;
      condition.op = opSelect.value;
      var input = opOf(field, condition.op).input;
      if (input !== before) condition.value = defaultValue(field, input);
      render();
    });
    var inputs = el('div', { class: 'segment-condition__inputs' }, [fieldSelect, opSelect, drawValue(condition, field, op.input, path)]);
    return el('div', { class: 'segment-condition', 'data-node': 'condition', 'data-path': path }, [
      inputs,
      button('Remove', 'button-secondary segment-remove', function () {
        parent.items.splice(parent.items.indexOf(condition), 1);
        render();
      }, 'Remove this condition'),
      el('p', { class: 'segment-error', 'data-error': '', role: 'alert', hidden: '' })
    ]);
  }

  function numberInput(label, value, focus, onValue, attrs) {
    var input = el('input', Object.assign({ type: 'number', 'aria-label': label, 'data-focus': focus, class: 'segment-number' }, attrs || {}));
    if (value !== null && value !== undefined) input.value = String(value);
    input.addEventListener('input', function () {
      onValue(input.value === '' ? null : Number(input.value));
      changed();
    });
    return input;
  }

  function drawValue(condition, field, input, path) {
    var focus = path + ':value';
    var choices = field.choices || [];
    var box = el('span', { class: 'segment-value' });
    function set(value) { condition.value = value; }
    if (input === 'none') return box;
    if (input === 'text' || input === 'date') {
      var text = el('input', { type: input === 'date' ? 'date' : 'text', 'aria-label': 'Value', 'data-focus': focus, maxlength: '255' });
      text.value = condition.value === undefined || condition.value === null ? '' : String(condition.value);
      text.addEventListener('input', function () { set(text.value); changed(); });
      box.appendChild(text);
    } else if (input === 'number') {
      box.appendChild(numberInput('Value', condition.value, focus, set, { step: 'any' }));
    } else if (input === 'days') {
      box.appendChild(numberInput('Days', condition.value, focus, set, { min: '1', step: '1' }));
      box.appendChild(el('span', { class: 'segment-unit', text: 'days' }));
    } else if (input === 'count_days') {
      var value = condition.value && typeof condition.value === 'object' ? condition.value : { count: 2, days: 7 };
      condition.value = value;
      box.appendChild(numberInput('Campaigns', value.count, focus, function (n) { value.count = n; }, { min: '1', step: '1' }));
      box.appendChild(el('span', { class: 'segment-unit', text: 'in' }));
      box.appendChild(numberInput('Days', value.days, path + ':days', function (n) { value.days = n; }, { min: '1', step: '1' }));
      box.appendChild(el('span', { class: 'segment-unit', text: 'days' }));
    } else if (input === 'boolean') {
      var yesNo = el('select', { 'aria-label': 'Value', 'data-focus': focus });
      yesNo.appendChild(option('true', 'yes', condition.value === true));
      yesNo.appendChild(option('false', 'no', condition.value === false));
      yesNo.addEventListener('change', function () { set(yesNo.value === 'true'); changed(); });
      box.appendChild(yesNo);
    } else if (input === 'choices') {
      var chosen = Array.isArray(condition.value) ? condition.value : [];
      condition.value = chosen;
      var list = el('span', { class: 'segment-choices', role: 'group', 'aria-label': 'Values' });
      choices.forEach(function (c, i) {
        var box2 = el('input', { type: 'checkbox', value: String(c[0]), 'data-focus': focus + ':' + i });
        box2.checked = chosen.indexOf(c[0]) !== -1;
        box2.addEventListener('change', function () {
          condition.value = choices.map(function (x) { return x[0]; }).filter(function (v, j) {
            return j === i ? box2.checked : condition.value.indexOf(v) !== -1;
          });
          changed();
        });
        list.appendChild(el('label', { class: 'segment-choice' }, [box2, document.createTextNode(' ' + c[1])]));
      });
      box.appendChild(list);
    } else {
      // choice, topic, campaign: one of the field's choices
      var select = el('select', { 'aria-label': input === 'campaign' ? 'Campaign' : 'Value', 'data-focus': focus });
      if (!choices.length) select.appendChild(option('', 'none to choose from', true));
      choices.forEach(function (c) { select.appendChild(option(c[0], c[1], String(c[0]) === String(condition.value))); });
      select.addEventListener('change', function () {
        set(input === 'campaign' ? Number(select.value) : select.value);
        changed();
      });
      box.appendChild(select);
    }
    return box;
  }

  // Errors, keyed by the path the server names -------------------------------------------------------------------

  function clearErrors() {
    tree.querySelectorAll('[data-error]').forEach(function (p) { p.hidden = true; p.textContent = ''; });
    tree.querySelectorAll('.segment-condition--error, .segment-group--error').forEach(function (n) {
      n.classList.remove('segment-condition--error', 'segment-group--error');
    });
    generalError.hidden = true;
  }

  function nodeFor(path) {
    var parts = path.split('.');
    while (parts.length) {
      var key = parts.join('.');
      var nodes = tree.querySelectorAll('[data-path], [data-here]');
      for (var i = 0; i < nodes.length; i++) {
        if (nodes[i].getAttribute('data-path') === key || nodes[i].getAttribute('data-here') === key) return nodes[i];
      }
      parts.pop();
    }
    return null;
  }

  function showError(path, problem) {
    clearErrors();
    var node = path && path !== 'definition' ? nodeFor(path) : null;
    if (!node) {
      generalError.textContent = problem;
      generalError.hidden = false;
      return;
    }
    var slot = node.querySelector(':scope > [data-error]');
    slot.textContent = problem;
    slot.hidden = false;
    node.classList.add(node.getAttribute('data-node') === 'group' ? 'segment-group--error' : 'segment-condition--error');
  }

  // The count -------------------------------------------------------------------------------------------------

  var countUrl = editor.getAttribute('data-count-url');
  var csrf = form.querySelector('input[name="csrfmiddlewaretoken"]').value;
  var number = countBox.querySelector('[data-count-number]');
  var unit = countBox.querySelector('[data-count-unit]');
  var countError = countBox.querySelector('[data-count-error]');
  var sampleBox = countBox.querySelector('[data-sample]');
  var sampleList = countBox.querySelector('[data-sample-list]');
  var timer = null;
  var asked = 0;

  function changed() {
    textarea.value = JSON.stringify(toJSON(root), null, 2);
    window.clearTimeout(timer);
    countBox.classList.add('segment-count--busy');
    timer = window.setTimeout(count, COUNT_DELAY_MS);
  }

  function count() {
    var mine = ++asked;
    fetch(countUrl, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRFToken': csrf },
      body: JSON.stringify({ definition: toJSON(root) })
    })
      .then(function (response) {
        return response.json().then(function (data) { return { ok: response.ok, data: data }; });
      })
      .then(function (answer) {
        if (mine !== asked) return; // a later change asked again
        countBox.classList.remove('segment-count--busy');
        var data = answer.data;
        if (!answer.ok) {
          number.textContent = '–';
          unit.textContent = 'people';
          countError.textContent = 'Not counted until this is corrected: ' + data.problem;
          countError.hidden = false;
          showError(data.path, data.problem);
          sampleBox.hidden = true;
          return;
        }
        clearErrors();
        countError.hidden = true;
        number.textContent = new Intl.NumberFormat(locale).format(data.count);
        unit.textContent = data.count === 1 ? 'person' : 'people';
        number.setAttribute('data-count-value', String(data.count));
        if (data.sample) {
          sampleList.textContent = '';
          data.sample.forEach(function (person) {
            sampleList.appendChild(el('li', {}, [
              el('span', { class: 'segment-sample__email', text: person.email }),
              document.createTextNode(person.first_name ? ' (' + person.first_name + ')' : '')
            ]));
          });
          sampleBox.hidden = !data.sample.length;
        }
      })
      .catch(function () {
        if (mine !== asked) return;
        countBox.classList.remove('segment-count--busy');
        countError.textContent = 'The count could not be fetched; it will be tried again on the next change.';
        countError.hidden = false;
      });
  }

  // Start: the tree replaces the JSON field, which stays in the form (hidden) as what is posted. ----------------

  jsonBox.hidden = true;
  editor.hidden = false;
  countBox.hidden = false;
  render();
  var serverPath = editor.getAttribute('data-error-path');
  if (serverPath) showError(serverPath, editor.getAttribute('data-error-problem'));
}());
