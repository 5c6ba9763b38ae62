/** Builds a component context; what is not given gets a neutral default (for tests, tools and the agent alike). */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { ComponentContext } from './component.js';
import { ContainerDirectory } from './containers.js';
import { LogRouter } from './logs.js';

export function createContext(opts: Partial<ComponentContext> & { readonly root: string }): ComponentContext {
  return {
    root: opts.root,
    now: opts.now ?? Date.now,
    log: opts.log ?? pino({ level: 'silent' }),
    containers: opts.containers ?? new ContainerDirectory(),
    logs: opts.logs ?? new LogRouter(),
    stateDir: opts.stateDir ?? join(tmpdir(), 'lookout-state'),
  };
}
