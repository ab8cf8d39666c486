//! The stage DAG: one node per stage, an edge from each stage to the stages
//! that read it.
use std::fmt::Write as _;

use petgraph::algo::toposort;
use petgraph::graph::{DiGraph, NodeIndex};
use rooflaw_dsl::spec::Spec;
use rooflaw_dsl::{Code, Diagnostic};

pub struct Dag {
    pub graph: DiGraph<String, ()>,
    /// Stage names in a topological order that keeps source order where the
    /// edges allow it.
    pub order: Vec<String>,
}

impl Dag {
    pub fn build(spec: &Spec) -> Result<Dag, Vec<Diagnostic>> {
        let mut graph = DiGraph::new();
        let nodes: Vec<NodeIndex> = spec
            .stages
            .iter()
            .map(|s| graph.add_node(s.name.node.clone()))
            .collect();
        let index = |name: &str| spec.stages.iter().position(|s| s.name.node == name);
        let mut errors = Vec::new();
        for (i, stage) in spec.stages.iter().enumerate() {
            for input in stage.inputs() {
                match index(&input.node) {
                    Some(j) => {
                        graph.add_edge(nodes[j], nodes[i], ());
                    }
                    None => errors.push(
                        Diagnostic::error(
                            Code::UnknownStage,
                            format!("no stage named `{}`", input.node),
                        )
                        .at(input.span, "not defined"),
                    ),
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        // The lowering rejects cycles with spans on every edge; this is the
        // engine's own guard, for specs built by other means.
        let sorted = toposort(&graph, None).map_err(|cycle| {
            let stage = &spec.stages[cycle.node_id().index()];
            vec![
                Diagnostic::error(
                    Code::Cycle,
                    format!("stage `{}` depends on itself", stage.name.node),
                )
                .at(stage.name.span, "part of a cycle"),
            ]
        })?;
        // Kahn's order from toposort is arbitrary among independent stages;
        // re-sort stably by source position while respecting edges.
        let mut order: Vec<usize> = Vec::with_capacity(sorted.len());
        let mut indegree: Vec<usize> = nodes
            .iter()
            .map(|&n| graph.neighbors_directed(n, petgraph::Incoming).count())
            .collect();
        let mut ready: std::collections::BTreeSet<usize> =
            (0..nodes.len()).filter(|&i| indegree[i] == 0).collect();
        while let Some(&i) = ready.iter().next() {
            ready.remove(&i);
            order.push(i);
            for n in graph.neighbors_directed(nodes[i], petgraph::Outgoing) {
                indegree[n.index()] -= 1;
                if indegree[n.index()] == 0 {
                    ready.insert(n.index());
                }
            }
        }
        let order = order
            .into_iter()
            .map(|i| spec.stages[i].name.node.clone())
            .collect();
        Ok(Dag { graph, order })
    }

    fn node(&self, name: &str) -> Option<NodeIndex> {
        self.graph.node_indices().find(|&n| self.graph[n] == name)
    }

    /// Direct upstream stages.
    pub fn upstream(&self, name: &str) -> Vec<String> {
        self.node(name).map_or_else(Vec::new, |n| {
            self.graph
                .neighbors_directed(n, petgraph::Incoming)
                .map(|m| self.graph[m].clone())
                .collect()
        })
    }

    /// `name` and everything it depends on, transitively.
    pub fn ancestors_and_self(&self, name: &str) -> std::collections::BTreeSet<String> {
        let mut seen = std::collections::BTreeSet::new();
        let mut stack = vec![name.to_string()];
        while let Some(s) = stack.pop() {
            if seen.insert(s.clone()) {
                stack.extend(self.upstream(&s));
            }
        }
        seen
    }

    /// Graphviz dot, one node per stage labelled with its kind.
    pub fn to_dot(&self, spec: &Spec) -> String {
        let mut out = String::from(
            "digraph pipeline {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n",
        );
        for name in &self.order {
            let kind = spec.stage(name).map_or("", |s| s.kind.node.as_str());
            let _ = writeln!(out, "  \"{name}\" [label=\"{name}\\n{kind}\"];");
        }
        for e in self.graph.edge_indices() {
            let (a, b) = self.graph.edge_endpoints(e).expect("edge");
            let _ = writeln!(out, "  \"{}\" -> \"{}\";", self.graph[a], self.graph[b]);
        }
        out.push_str("}\n");
        out
    }

    /// Mermaid flowchart, for Markdown renderers that draw it.
    pub fn to_mermaid(&self, spec: &Spec) -> String {
        let mut out = String::from("flowchart LR\n");
        for name in &self.order {
            let kind = spec.stage(name).map_or("", |s| s.kind.node.as_str());
            let _ = writeln!(out, "  {name}[\"{name}<br/><i>{kind}</i>\"]");
        }
        for e in self.graph.edge_indices() {
            let (a, b) = self.graph.edge_endpoints(e).expect("edge");
            let _ = writeln!(out, "  {} --> {}", self.graph[a], self.graph[b]);
        }
        out
    }
}
