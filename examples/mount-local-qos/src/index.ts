// Library use of shylock: mount a local directory with QoS rules and a REST control API.
import { mount, type Mount } from '@shylock/fuse';
import { localBackend } from '@shylock/local';
import { createPolicy, createQosServer, loadQosFile, type Policy, type QosServer } from '@shylock/qos';

export interface ThrottledMount {
  mount: Mount;
  policy: Policy;
  api: QosServer;
  close(): Promise<void>;
}

/** Mounts `source` at `mountpoint` with the rules of `qosFile`, and serves the REST API. */
export async function mountWithQos(source: string, mountpoint: string, qosFile: string): Promise<ThrottledMount> {
  const policy = createPolicy(await loadQosFile(qosFile), { root: mountpoint });
  const m = await mount(localBackend({ root: source }), mountpoint, { qos: policy });
  try {
    const api = await createQosServer(policy, { port: 0 });
    return {
      mount: m,
      policy,
      api,
      async close() {
        await api.close();
        await m.unmount();
      },
    };
  } catch (e) {
    await m.unmount();
    throw e;
  }
}
