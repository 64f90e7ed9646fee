//! `kiln plan` (and `kiln build -reuse -dry-run`): for each build, whether
//! `-reuse` would reuse an artifact or build, and for a build which inputs
//! changed since the newest artifact of that build. Looks only: nothing is
//! made, copied or tagged.

use super::Reuse;
use crate::graph::Graph;
use crate::runner::{short, BuildContext, RunOptions};
use crate::ui::Ui;
use tokio_util::sync::CancellationToken;

/// Print the plan of every build; the exit code (1 when a build's lookup
/// failed).
pub async fn plan(graph: Graph, ui: Ui, opts: RunOptions, cancel: CancellationToken) -> i32 {
    let mut opts = opts;
    opts.legacy_ui = graph.frontend == "json";
    opts.reuse = true;
    let mut code = 0;
    let (mut reused, mut built) = (0, 0);
    for (i, node) in graph.builds.iter().enumerate() {
        let bui = ui.build(&node.name, i);
        let ctx = BuildContext::new(
            node,
            bui.clone(),
            cancel.clone(),
            &opts,
            String::new(),
            &graph.sensitive,
        );
        let b = match crate::builder::create(&node.source_type, &node.builder) {
            Ok(b) => b,
            Err(e) => {
                bui.error(&format!("cannot plan: {e}"));
                code = 1;
                continue;
            }
        };
        let fp = match &ctx.inputs {
            Ok(fp) => fp.clone(),
            Err(why) => {
                bui.say(&format!("would build: the inputs are not known ({why})"));
                built += 1;
                continue;
            }
        };
        match b.reusable(&ctx, &fp, true).await {
            Ok(Reuse::Found(a)) => {
                reused += 1;
                bui.say(&format!(
                    "up to date: would reuse {} (inputs {})",
                    a.id,
                    short(&fp.digest())
                ));
            }
            Ok(Reuse::Build { inputs, newest }) => {
                built += 1;
                match newest {
                    None => bui.say(&format!(
                        "would build (inputs {}): no earlier artifact of this build",
                        short(&inputs.digest())
                    )),
                    Some(e) => {
                        bui.say(&format!(
                            "would build (inputs {}): changed since {}:",
                            short(&inputs.digest()),
                            e.what
                        ));
                        let changes = inputs.changes_since(&e.parts);
                        if changes.is_empty() {
                            bui.message("an input the earlier artifact does not list");
                        }
                        for c in changes {
                            bui.message(&c);
                        }
                    }
                }
            }
            Ok(Reuse::Unsupported(why)) => {
                built += 1;
                bui.say(&format!("would build: {why}"));
            }
            Err(e) => {
                bui.error(&format!("cannot plan: {e}"));
                code = 1;
            }
        }
    }
    ui.say(&format!("\nPlan: {reused} to reuse, {built} to build."));
    code
}
