/** The exporter registry: one line per exporter. */
import type { ExporterFactory } from '../src/component.js';
import { registry } from '../src/registry.js';
import { prometheusExporter } from './prometheus/index.js';

export const exporters: readonly ExporterFactory[] = registry('exporter', [
  prometheusExporter,
]);
