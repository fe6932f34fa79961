// What a step produces and the cache stores: one regular file, or a directory tree, named by digest.

export interface FileArtifact {
  kind: 'file';
  /** sha256 of the contents */
  digest: string;
  size: number;
  /** permission bits (0o7777) */
  mode: number;
}
export interface TreeArtifact {
  kind: 'tree';
  /** sha256 of the tree's canonical manifest */
  digest: string;
  size: number;
  files: number;
}
export type Artifact = FileArtifact | TreeArtifact;
