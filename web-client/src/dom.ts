// The views' element factory: Preact's `h`, plus `testid` as a short name for `data-testid`.
// Preact diffs each render against the last one, so an update changes only what changed: focus,
// typed text and running animations survive. Text only ever goes in as text (Preact sets
// textContent and attributes; nothing is parsed as HTML).
import { h as preactH } from "preact";
import type { ComponentChildren, VNode } from "preact";

export type Child = ComponentChildren;
export type Attrs = Record<string, unknown>;

export function h(tag: string, attrs: Attrs | null = null, ...children: Child[]): VNode {
  let props: Attrs | null = attrs;
  if (attrs && "testid" in attrs) {
    const { testid, ...rest } = attrs;
    props = testid === null || testid === undefined ? rest : { ...rest, "data-testid": testid };
  }
  return preactH(tag, props as Record<string, unknown> | null, ...children) as VNode;
}

export type { VNode };
