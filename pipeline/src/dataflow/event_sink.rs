//! The event sink: each decoded record's rows for `proctor_events`,
//! buffered and written (see [`super::writer`]), while its facts go on to
//! the windows. The rows of a record hold its time until written, so its
//! offset is not committed before them.

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::{Scope, StreamVec};

use super::writer::{EventPayload, Writer};
use super::Shared;
use crate::session::FactBatch;
use crate::source::{Decoded, Time};

/// Writes the records' event rows; passes their facts on.
pub(super) fn event_sink<'scope>(
    scope: Scope<'scope, Time>,
    decoded: StreamVec<'scope, Time, Decoded>,
    shared: Shared,
) -> StreamVec<'scope, Time, FactBatch> {
    decoded.unary_frontier::<CapacityContainerBuilder<Vec<FactBatch>>, _, _, _>(
        Pipeline,
        "EventSink",
        |_capability, info| {
            let activator = scope.activator_for(info.address);
            let mut writer: Writer<EventPayload> =
                Writer::new("proctor_events", "event_sink_before_insert", "event_sink_after_ack");
            move |(input, frontier), output| {
                input.for_each(|cap, data| {
                    let Some(cap) = cap.retain_least(output.output_index()) else { return };
                    let mut session = output.session(&cap);
                    for mut item in data.drain(..) {
                        writer.pending.block.append(&mut item.rows);
                        writer.pending.notices.append(&mut item.notices);
                        session.give(item.facts);
                    }
                    drop(session);
                    writer.hold(cap);
                });
                if let Some(again) = writer.poll(&shared, frontier.is_empty()) {
                    activator.activate_after(again);
                }
            }
        },
    )
}
