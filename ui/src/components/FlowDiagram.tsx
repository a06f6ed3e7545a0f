/**
 * The data path as a picture: inputs -> buffer -> outputs. An edge is green while data flows, grey
 * and dotted while quiet, and red and dashed where it stops (lib/flow-health.ts): an input silent
 * for a while, an output backing off, refused by its configuration, stopped or lagging. The same
 * facts are in the picture's description for screen readers, and in the tables beside it.
 *
 * Left to right on a wide screen; top to bottom on a narrow one (a phone), where a left-to-right
 * picture would shrink its text below reading size.
 */
import { rate } from '../lib/format.js';
import type { EdgeHealth } from '../lib/flow-health.js';

export interface FlowNode {
  name: string;
  recordsPerSecond: number;
  edge: EdgeHealth;
}

interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

const NODE_H = 52;
const PAD = 12;

function clip(text: string, width: number, px: number): string {
  const chars = Math.max(4, Math.floor((width - 20) / (px * 0.58)));
  return text.length > chars ? `${text.slice(0, chars - 1)}…` : text;
}

function stateWords(n: FlowNode): string {
  return n.edge.health === 'ok' ? (n.edge.reason === 'receiving' ? 'flowing' : n.edge.reason) : n.edge.health === 'stopped' ? 'STOPPED' : n.edge.reason;
}

function NodeBox({ box, title, detail, health }: { box: Box; title: string; detail: string; health?: EdgeHealth['health'] }) {
  return (
    <g class={`flow-node${health ? ` flow-node-${health}` : ' flow-buffer'}`}>
      <rect x={box.x} y={box.y} width={box.w} height={box.h} rx={8} />
      <text x={box.x + 10} y={box.y + box.h / 2 - 5} class="flow-node-title">
        {clip(title, box.w, 17)}
      </text>
      <text x={box.x + 10} y={box.y + box.h / 2 + 15} class="flow-node-detail">
        {clip(detail, box.w, 14)}
      </text>
    </g>
  );
}

function Edge({ from, to, health, vertical }: { from: Box; to: Box; health: EdgeHealth['health']; vertical: boolean }) {
  let d: string;
  if (vertical) {
    const [x1, y1, x2, y2] = [from.x + from.w / 2, from.y + from.h, to.x + to.w / 2, to.y];
    const mid = (y1 + y2) / 2;
    d = `M ${x1} ${y1} C ${x1} ${mid}, ${x2} ${mid}, ${x2} ${y2}`;
  } else {
    const [x1, y1, x2, y2] = [from.x + from.w, from.y + from.h / 2, to.x, to.y + to.h / 2];
    const mid = (x1 + x2) / 2;
    d = `M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2} ${y2}`;
  }
  return <path class={`flow-edge flow-edge-${health}`} d={d} marker-end={`url(#flow-arrow-${health})`} />;
}

/** boxes of one column (wide) or one row (narrow) of `n` nodes, centred on the other nodes' extent */
function layout(inputs: number, outputs: number, vertical: boolean): { width: number; height: number; ins: Box[]; buffer: Box; outs: Box[] } {
  if (vertical) {
    const width = 400;
    const row = (n: number, y: number): Box[] => {
      const w = (width - PAD * (n + 1)) / Math.max(1, n);
      return Array.from({ length: n }, (_, i) => ({ x: PAD + i * (w + PAD), y, w, h: NODE_H }));
    };
    const gap = 56;
    const buffer = { x: width / 2 - 110, y: PAD + NODE_H + gap, w: 220, h: NODE_H + 8 };
    const outY = buffer.y + buffer.h + gap;
    return { width, height: outY + NODE_H + PAD, ins: row(inputs, PAD), buffer, outs: row(outputs, outY) };
  }
  const width = 900;
  const nodeW = 220;
  const rowH = NODE_H + 14;
  const rows = Math.max(1, inputs, outputs);
  const height = rows * rowH - 14 + PAD * 2;
  const column = (n: number, x: number): Box[] =>
    Array.from({ length: n }, (_, i) => ({ x, y: PAD + ((rows - n) * rowH) / 2 + i * rowH, w: nodeW, h: NODE_H }));
  const buffer = { x: (width - 240) / 2, y: height / 2 - (NODE_H + 16) / 2, w: 240, h: NODE_H + 16 };
  return { width, height, ins: column(inputs, PAD), buffer, outs: column(outputs, width - nodeW - PAD) };
}

export function FlowDiagram({ inputs, outputs, bufferDetail, vertical }: { inputs: FlowNode[]; outputs: FlowNode[]; bufferDetail: string; vertical: boolean }) {
  const { width, height, ins, buffer, outs } = layout(inputs.length, outputs.length, vertical);
  const words = (kind: string, n: FlowNode): string =>
    `${kind} ${n.name}: ${rate(n.recordsPerSecond)} records/s, ${n.edge.health === 'ok' ? 'flowing' : n.edge.reason}`;
  const description = [...inputs.map((n) => words('input', n)), `buffer: ${bufferDetail}`, ...outputs.map((n) => words('output', n))].join('; ');
  return (
    <svg class={vertical ? 'flow flow-vertical' : 'flow'} viewBox={`0 0 ${width} ${height}`} role="img" aria-labelledby="flow-title flow-desc">
      <title id="flow-title">Data flow: inputs to buffer to outputs</title>
      <desc id="flow-desc">{description}</desc>
      <defs>
        {(['ok', 'quiet', 'stopped'] as const).map((h) => (
          <marker key={h} id={`flow-arrow-${h}`} viewBox="0 0 10 10" refX="9" refY="5" markerWidth="5" markerHeight="5" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" class={`flow-arrow flow-arrow-${h}`} />
          </marker>
        ))}
      </defs>
      {inputs.map((n, i) => (
        <Edge key={`e-in-${n.name}`} from={ins[i]!} to={buffer} health={n.edge.health} vertical={vertical} />
      ))}
      {outputs.map((n, i) => (
        <Edge key={`e-out-${n.name}`} from={buffer} to={outs[i]!} health={n.edge.health} vertical={vertical} />
      ))}
      {inputs.map((n, i) => (
        <NodeBox key={`in-${n.name}`} box={ins[i]!} title={n.name} detail={`${rate(n.recordsPerSecond)} rec/s · ${stateWords(n)}`} health={n.edge.health} />
      ))}
      <NodeBox box={buffer} title="Buffer" detail={bufferDetail} />
      {outputs.map((n, i) => (
        <NodeBox key={`out-${n.name}`} box={outs[i]!} title={n.name} detail={`${rate(n.recordsPerSecond)} rec/s · ${stateWords(n)}`} health={n.edge.health} />
      ))}
    </svg>
  );
}
