/**
 * Per-container network statistics, as cAdvisor reads them: `/proc/<pid>/net/dev` of a
 * process in the container's network namespace. Containers that share a namespace (a pod's
 * sandbox and its containers, `--network container:X`) are attributed once, and containers
 * on the host's namespace report nothing rather than the host's interfaces.
 */
import { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { LookoutError } from '../../src/errors.js';
import { Labels, metric } from '../../src/model.js';

export interface InterfaceStats {
  readonly name: string;
  readonly rxBytes: number;
  readonly rxPackets: number;
  readonly rxErrors: number;
  readonly rxDropped: number;
  readonly txBytes: number;
  readonly txPackets: number;
  readonly txErrors: number;
  readonly txDropped: number;
}

/**
 * Parses `/proc/net/dev`: two header lines, then `name: rx_bytes rx_packets rx_errs rx_drop
 * rx_fifo rx_frame rx_compressed rx_multicast tx_bytes tx_packets tx_errs tx_drop tx_fifo
 * tx_colls tx_carrier tx_compressed` per interface.
 */
export function parseNetDev(text: string, what: string): InterfaceStats[] {
  const out: InterfaceStats[] = [];
  const lines = text.split('\n');
  if (!(lines[0] ?? '').includes('|') || !(lines[1] ?? '').includes('|')) {
    throw new LookoutError('LOOKOUT_ERR_CGROUP_PARSE', `${what}: missing the /proc/net/dev header`);
  }
  for (let i = 2; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.trim() === '') continue;
    const colon = line.indexOf(':');
    const f = colon < 0 ? [] : line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (colon < 0 || f.length < 16 || f.some((n) => !Number.isFinite(n))) {
      throw new LookoutError('LOOKOUT_ERR_CGROUP_PARSE', `${what}: unexpected line ${JSON.stringify(line.slice(0, 80))}`);
    }
    const n = (k: number): number => f[k] as number;
    out.push({
      name: line.slice(0, colon).trim(),
      rxBytes: n(0), rxPackets: n(1), rxErrors: n(2), rxDropped: n(3),
      txBytes: n(8), txPackets: n(9), txErrors: n(10), txDropped: n(11),
    });
  }
  return out;
}

/** The network namespace inode of a process (`net:[4026531992]`), or undefined if it is gone. */
export function netnsOf(procRoot: string, pid: number): string | undefined {
  try {
    return readlinkSync(join(procRoot, String(pid), 'ns/net'));
  } catch {
    return undefined;
  }
}

const V = 'network namespace of a process in the container (/proc/<pid>/net/dev)';
export const NET = {
  rxBytes: metric({ name: 'container_network_receive_bytes_total', type: 'counter', unit: 'bytes', help: 'Cumulative count of bytes received, per interface.', labels: ['interface'], source: V }),
  rxPackets: metric({ name: 'container_network_receive_packets_total', type: 'counter', unit: '', help: 'Cumulative count of packets received, per interface.', labels: ['interface'], source: V }),
  rxErrors: metric({ name: 'container_network_receive_errors_total', type: 'counter', unit: '', help: 'Cumulative count of errors encountered while receiving, per interface.', labels: ['interface'], source: V }),
  rxDropped: metric({ name: 'container_network_receive_packets_dropped_total', type: 'counter', unit: '', help: 'Cumulative count of packets dropped while receiving, per interface.', labels: ['interface'], source: V }),
  txBytes: metric({ name: 'container_network_transmit_bytes_total', type: 'counter', unit: 'bytes', help: 'Cumulative count of bytes transmitted, per interface.', labels: ['interface'], source: V }),
  txPackets: metric({ name: 'container_network_transmit_packets_total', type: 'counter', unit: '', help: 'Cumulative count of packets transmitted, per interface.', labels: ['interface'], source: V }),
  txErrors: metric({ name: 'container_network_transmit_errors_total', type: 'counter', unit: '', help: 'Cumulative count of errors encountered while transmitting, per interface.', labels: ['interface'], source: V }),
  txDropped: metric({ name: 'container_network_transmit_packets_dropped_total', type: 'counter', unit: '', help: 'Cumulative count of packets dropped while transmitting, per interface.', labels: ['interface'], source: V }),
};

const ifaceLabels = new Map<string, Labels>();
export function interfaceLabel(name: string): Labels {
  let l = ifaceLabels.get(name);
  if (l === undefined) {
    l = new Labels([['interface', name]]);
    ifaceLabels.set(name, l);
  }
  return l;
}
