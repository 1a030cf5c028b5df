export interface GraphNode {
  name: string;
  virtual: boolean;
  inputs: string[];
}

export interface GraphEdge {
  /** The input. */
  from: string;
  /** The projection that reads it. */
  to: string;
}

export interface ProjectionGraphView {
  nodes: GraphNode[];
  edges: GraphEdge[];
  /** A Mermaid `flowchart` of the graph. */
  toMermaid(): string;
}

export interface PlanStep {
  projection: string;
  virtual: boolean;
  /** Inputs inside this plan that must finish first. */
  after: string[];
  /** Longest chain of inputs below this step (0 for sources). */
  depth: number;
  readDataSource: string;
  writeDataSource?: string;
  /** Lens keys applied to this projection's own rows (delete and output filter). */
  lensKeys: string[];
  dematerialize: boolean;
}

export interface ProjectionPlan {
  projection: string;
  lens: Record<string, unknown>;
  /** Steps in an order that respects every dependency. */
  steps: PlanStep[];
  toString(): string;
}
