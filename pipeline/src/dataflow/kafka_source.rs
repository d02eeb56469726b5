//! The source operator: this worker's Kafka partitions, decoded, each
//! record at the time of the newest window it touches; its capability is
//! the watermark. It stops reading while `max_in_flight` records wait for
//! the store (back-pressure), and ends when told to stop or when a finite
//! source runs dry.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::operators::Capability;
use timely::dataflow::{Scope, StreamVec};

use super::Shared;
use crate::source::{Decoded, RecordSource, Time};

/// Reads records from `reader` into the dataflow.
pub(super) fn kafka_source<'scope, S: RecordSource + 'static>(
    scope: Scope<'scope, Time>,
    reader: Rc<RefCell<S>>,
    shared: Shared,
) -> StreamVec<'scope, Time, Decoded> {
    source::<_, CapacityContainerBuilder<Vec<Decoded>>, _, _>(scope, "KafkaSource", |capability, info| {
        let activator = scope.activator_for(info.address);
        let mut capability = Some(capability);
        move |output| {
            let Some(cap) = capability.as_mut() else { return };
            let mut reader = reader.borrow_mut();
            if shared.stop.load(Ordering::Relaxed) || !reader.has_partitions() {
                capability = None;
                return;
            }
            let in_flight = reader.ledger().in_flight();
            let floor = *cap.time();
            let mut read = 0;
            if in_flight < shared.settings.max_in_flight {
                let mut session_cap: Option<Capability<Time>> = None;
                read = reader.read(2_000, floor, &mut |time, item| {
                    if session_cap.as_ref().is_none_or(|c| *c.time() != time) {
                        session_cap = Some(cap.delayed(&time));
                    }
                    output.session(session_cap.as_ref().expect("set above")).give(item);
                });
            }
            // While paused for back-pressure, partitions look idle but
            // are not: the watermark waits.
            let paused = reader.ledger().in_flight() >= shared.settings.max_in_flight;
            match reader.watermark() {
                // A finite source is done: release the capability.
                None => {
                    capability = None;
                    return;
                }
                Some(watermark) if !paused && watermark > *cap.time() => cap.downgrade(&watermark),
                Some(_) => {}
            }
            if read > 0 {
                activator.activate();
            } else {
                activator.activate_after(Duration::from_millis(10));
            }
        }
    })
}
