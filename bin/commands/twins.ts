import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type * as Decode from '../../lib/decode';
import type * as Kind from '../../lib/decode/kind';

// Go serves each profile in two forms, protobuf (`?debug=0`) and text (`?debug=1`), and people
// save both side by side: heap.pb.gz and heap.debug1.txt of the same capture. Ingesting both
// counts the capture twice (the fleet heap doubles). Twins are files in one directory with the
// same name up to the first dot, of the same kind, one decoding as text and one as protobuf; the
// text one is skipped, the protobuf kept (it has timestamps, line numbers and addresses).

export interface Twin {
  /** The file skipped. */
  skipped: string;
  /** The file kept in its place. */
  kept: string;
}

const stemOf = (file: string) => path.join(path.dirname(file), path.basename(file).split('.')[0]);

/** The text twins among `files` (only files sharing a directory and stem are read). */
export async function findTwins(files: readonly string[]): Promise<Twin[]> {
  const groups = new Map<string, string[]>();
  for (const f of files) {
    const k = stemOf(f);
    const g = groups.get(k);
    if (g) g.push(f);
    else groups.set(k, [f]);
  }
  const twins: Twin[] = [];
  for (const group of groups.values()) {
    if (group.length < 2) continue;
    // The decoders only when some files share a stem: `fleetprof ingest --jobs N` starts its
    // workers after this, and the decoders' modules are most of a thread's start (ingest-workers.ts).
    const { decodeProfile } = require('../../lib/decode') as typeof Decode;
    const { detectKind, kindFromPath } = require('../../lib/decode/kind') as typeof Kind;
    const byKind = new Map<string, { text: string[]; proto: string[] }>();
    for (const f of group) {
      let kind: string;
      let text: boolean;
      try {
        const p = decodeProfile(await fs.readFile(f));
        kind = detectKind(p, kindFromPath(f));
        text = p.format === 'pprof-text';
      } catch {
        continue; // not a profile (or a bad one): ingest reports it on its own
      }
      const e = byKind.get(kind) ?? { text: [], proto: [] };
      (text ? e.text : e.proto).push(f);
      byKind.set(kind, e);
    }
    for (const e of byKind.values()) {
      if (e.proto.length === 1) for (const t of e.text) twins.push({ skipped: t, kept: e.proto[0] });
    }
  }
  return twins;
}
