//! The row sink: the windows operator's rows for `candidate_windows`,
//! `anomalies` and `sessions`, written as they come (see
//! [`super::writer`]); its output is only the probe, whose frontier is
//! therefore a durability frontier.

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Probe;
use timely::dataflow::{ProbeHandle, Scope, StreamVec};

use super::writer::Writer;
use super::Shared;
use crate::emit::Emission;
use crate::source::Time;

/// Writes the emitted rows; `probe` follows what is durable.
pub(super) fn row_sink<'scope>(
    scope: Scope<'scope, Time>,
    emissions: StreamVec<'scope, Time, Emission>,
    shared: Shared,
    probe: &ProbeHandle<Time>,
) {
    emissions
        .unary_frontier::<CapacityContainerBuilder<Vec<()>>, _, _, _>(Pipeline, "RowSink", |_capability, info| {
            let activator = scope.activator_for(info.address);
            let mut writer: Writer<Emission> =
                Writer::new("candidate_windows", "row_sink_before_insert", "row_sink_after_ack");
            move |(input, _frontier), _output| {
                input.for_each(|cap, data| {
                    let Some(cap) = cap.retain_least(0) else { return };
                    for mut emission in data.drain(..) {
                        writer.pending.append(&mut emission);
                    }
                    writer.hold(cap);
                });
                // Rows come in bursts, one per watermark step: written
                // at once, so commits follow the watermark closely.
                if let Some(again) = writer.poll(&shared, true) {
                    activator.activate_after(again);
                }
            }
        })
        .probe_with(probe);
}
