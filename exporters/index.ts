/** The exporter registry: one line per exporter. */
import type { ExporterFactory } from '../src/component.js';
import { registry } from '../src/registry.js';
import { fileExporter } from './file/index.js';
import { influxdbExporter } from './influxdb/index.js';
import { lokiExporter } from './loki/index.js';
import { otlpExporter } from './otlp/index.js';
import { prometheusExporter } from './prometheus/index.js';
import { remoteWriteExporter } from './remotewrite/index.js';

export const exporters: readonly ExporterFactory[] = registry('exporter', [
  prometheusExporter,
  fileExporter,
  influxdbExporter,
  remoteWriteExporter,
  otlpExporter,
  lokiExporter,
]);
