/** Checks a registry's list at load: a duplicate `type` is a programming error and stops the agent. */
export function registry<T extends { readonly type: string }>(kind: string, factories: readonly T[]): readonly T[] {
  const seen = new Set<string>();
  for (const f of factories) {
    if (seen.has(f.type)) throw new Error(`duplicate ${kind} type "${f.type}" in the ${kind} registry`);
    seen.add(f.type);
  }
  return Object.freeze([...factories]);
}
