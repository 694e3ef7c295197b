/**
 * A worker thread of the probe pool (probe.pool.ts). Started with its `ProbeOptions` as
 * workerData, it builds its own resolver, target policy and probe, and answers each
 * `{ id, target }` with `{ id, result }`. A probe never rejects; if one did, the unhandled
 * rejection ends this worker and the pool re-runs its probes on the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createProbeFromOptions, type ProbeOptions, type ProbeReply, type ProbeRequest } from './probe.pool.js';

if (!parentPort) throw new Error('probe.worker runs as a worker thread of a probe pool');
const port = parentPort;
const probe = createProbeFromOptions(workerData as ProbeOptions);

port.on('message', (request: ProbeRequest) => {
  void probe(request.target).then((result) => port.postMessage({ id: request.id, result } satisfies ProbeReply));
});
