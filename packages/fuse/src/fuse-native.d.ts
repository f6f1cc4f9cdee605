// The parts of fuse-native 2.2.6 that @shylock/fuse uses. The binding stays behind this
// package so it can be replaced.
declare module 'fuse-native' {
  type Callback = (...args: unknown[]) => void;
  interface FuseOptions {
    timeout?: number | false;
    force?: boolean;
    mkdir?: boolean;
    debug?: boolean;
    maxRead?: number;
    attrTimeout?: number;
    entryTimeout?: number;
    defaultPermissions?: boolean;
    allowOther?: boolean;
    fsname?: string;
    subtype?: string;
    [key: string]: unknown;
  }
  class Fuse {
    constructor(mountpoint: string, ops: Record<string, (...args: never[]) => void>, options?: FuseOptions);
    readonly mnt: string;
    opts: FuseOptions;
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    _fuseOptions(): string;
    static unmount(mountpoint: string, cb: (err: Error | null) => void): void;
    /** Only in the patched build (patches/fuse-native@2.2.6.patch). */
    static getContext?: () => { uid: number; gid: number; pid: number };
    /** Or'ed into the handle an open answers: that open bypasses the page cache (patched build). */
    static DIRECT_IO?: number;
    /** create handlers with four parameters get the open flags (patched build). */
    static CREATE_FLAGS?: boolean;
    /** utimens passes this for a time to leave as it is (patched build). */
    static UTIME_OMIT?: number;
    /** Times cross with their sub-millisecond part, as fractional milliseconds (patched build). */
    static SUB_MS_TIMES?: boolean;
    /** The FUSE threads serve registered handles' reads and writes themselves (patched build). */
    static FAST_IO?: boolean;
    /** Credits: bytes and operations per direction, -1 unlimited (patched build). */
    fastOpen?(fh: number, fd: number, read: boolean, write: boolean, readBytes: number, readOps: number, writeBytes: number, writeOps: number, flushNoop?: boolean): boolean;
    fastOpenMemory?(fh: number, bytes: Uint8Array, readBytes: number, readOps: number, flushNoop?: boolean): boolean;
    /** Adds credit; returns what that direction then holds [bytes, ops] (-1: unlimited), or null. */
    fastCredit?(fh: number, write: boolean, bytes: number, ops: number): [number, number] | null;
    /** The credit left: [readBytes, readOps, writeBytes, writeOps], or null. */
    fastClose?(fh: number): [number, number, number, number] | null;
    fastRevoke?(): void;
    /** getattr answers lstat of dir + path on the FUSE threads (patched build). */
    fastRoot?(dir: string): boolean;
    /** While on, native getattr and I/O hand their failures to the handlers (patched build). */
    fastReportErrors?(on: boolean): boolean;
    /** True once the kernel has ended the mount's connection (patched build). */
    ended?(): boolean;
    static isConfigured(cb: (err: Error | null, configured: boolean) => void): void;
  }
  export = Fuse;
}
