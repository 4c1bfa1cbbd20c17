/** The gRPC services tsov's daemons serve, by full name (their .proto files are in proto/). */
export const SNAPSHOTS_SERVICE = 'containerd.services.snapshots.v1.Snapshots';
export const HELPER_SERVICE = 'tsov.helper.v1.Helper';
