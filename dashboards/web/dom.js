// The tiny DOM builder the pages share. It reaches `document` only when
// called, so a module that draws with it (plot.js) still imports in node.

const SVG_TAGS = ['svg', 'rect', 'line', 'g', 'text', 'title', 'path', 'circle'];

/** `el('div', {class: 'x', onclick: f}, 'text', child)`: an element whose
 * strings are text nodes (never markup: candidate-supplied text stays text). */
export function el(tag, attributes = {}, ...children) {
  const node = SVG_TAGS.includes(tag) ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else if (name === 'dataset') Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
