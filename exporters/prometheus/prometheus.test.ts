import { describe, expect, it } from 'vitest';
import { collectionWait } from './index.js';

describe('collectionWait', () => {
  it('is half the timeout Prometheus sends, and unlimited without a usable one', () => {
    expect(collectionWait('10')).toBe(5000);
    expect(collectionWait('0.5')).toBe(250);
    for (const bad of [undefined, '', '0', '-1', 'ten', 'Infinity']) expect(collectionWait(bad)).toBe(Infinity);
  });
});
