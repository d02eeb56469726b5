//! The live counters operator: what the windows operator computed for
//! proctors leaves here for `proctor_live`, best effort (see
//! [`crate::live`]); the rows pass on to the row sink untouched. It holds no
//! capability, so a slow or absent broker never holds back the durability
//! frontier.

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

use super::Shared;
use crate::emit::Emission;
use crate::source::Time;
use invigil_schemas::live::LiveCounters;

/// What the windows operator sends on.
pub(super) enum Update {
    /// Rows for the store.
    Rows(Emission),
    /// One session's counters, as of the moment they were computed.
    Live(LiveCounters),
}

/// Publishes the live counters and forwards the rows.
pub(super) fn live_counters<'scope>(
    updates: StreamVec<'scope, Time, Update>,
    shared: Shared,
) -> StreamVec<'scope, Time, Emission> {
    updates.unary::<CapacityContainerBuilder<Vec<Emission>>, _, _, _>(Pipeline, "LiveCounters", |_capability, _info| {
        move |input, output| {
            input.for_each(|time, data| {
                let mut rows = output.session(&time);
                for update in data.drain(..) {
                    match update {
                        Update::Rows(emission) => rows.give(emission),
                        Update::Live(counters) => {
                            if let Some(publisher) = &shared.live {
                                publisher.publish(&counters);
                            }
                        }
                    }
                }
            });
        }
    })
}
