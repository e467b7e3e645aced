//! Which partitions this member owns, since which assignment, and which of
//! them the worker has in hand: the state behind the commit rule (see the
//! crate docs). Pure; the poll thread and the worker share it behind a lock.
//!
//! Every assignment of a partition gets a new *epoch*. A message carries the
//! epoch it was read under; its offset may be committed only while that
//! epoch is still the partition's current one. A partition revoked and
//! assigned again therefore never has an offset read under the old
//! assignment committed, which could rewind past what another member
//! committed in between.

/// A source partition: topic and partition number (shown `topic/partition`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Partition {
    /// Topic.
    pub(crate) topic: String,
    /// Partition number.
    pub(crate) partition: i32,
}

impl Partition {
    /// A partition of `topic`.
    pub(crate) fn new(topic: &str, partition: i32) -> Partition {
        Partition { topic: topic.to_owned(), partition }
    }

    /// Whether it is partition `partition` of `topic`.
    pub(crate) fn is(&self, topic: &str, partition: i32) -> bool {
        self.partition == partition && self.topic == topic
    }
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// A partition this member owns.
#[derive(Debug)]
struct Owned {
    partition: Partition,
    epoch: u64,
    /// A revocation is under way: no new work starts on it, but what is
    /// already in hand may still be committed.
    revoking: bool,
}

/// The assignment as the processor sees it. A handful of partitions at
/// most, so lookups are linear scans that allocate nothing.
#[derive(Debug, Default)]
pub(crate) struct Ownership {
    owned: Vec<Owned>,
    last_epoch: u64,
    /// Partitions of the batch the worker has in hand, with the epoch its
    /// messages were read under, until it hands the commit over.
    in_flight: Vec<(Partition, u64)>,
    /// Bumped on every change of the assignment.
    version: u64,
}

impl Ownership {
    /// Records the whole assignment after a rebalance: partitions new to it
    /// get a fresh epoch, those missing from it are forgotten.
    pub(crate) fn assign(&mut self, assignment: &[Partition]) {
        self.owned.retain(|o| assignment.contains(&o.partition));
        for p in assignment {
            if !self.owned.iter().any(|o| &o.partition == p) {
                self.last_epoch += 1;
                self.owned.push(Owned {
                    partition: p.clone(),
                    epoch: self.last_epoch,
                    revoking: false,
                });
            }
        }
        self.version += 1;
    }

    /// Starts revoking `revoked`: the worker starts nothing new on them.
    pub(crate) fn begin_revoke(&mut self, revoked: &[Partition]) {
        for o in self.owned.iter_mut().filter(|o| revoked.contains(&o.partition)) {
            o.revoking = true;
        }
        self.version += 1;
    }

    /// Ends revoking `revoked`: they are no longer ours, nothing read from
    /// them before is committed any more.
    pub(crate) fn end_revoke(&mut self, revoked: &[Partition]) {
        self.owned.retain(|o| !revoked.contains(&o.partition));
        self.version += 1;
    }

    /// The current epoch of a partition; `None` when it is not ours.
    pub(crate) fn epoch(&self, topic: &str, partition: i32) -> Option<u64> {
        self.owned.iter().find(|o| o.partition.is(topic, partition)).map(|o| o.epoch)
    }

    /// Whether what was read under `epoch` may still be committed.
    pub(crate) fn committable(&self, topic: &str, partition: i32, epoch: u64) -> bool {
        self.epoch(topic, partition) == Some(epoch)
    }

    /// Whether work on what was read under `epoch` may start or go on.
    pub(crate) fn workable(&self, topic: &str, partition: i32, epoch: u64) -> bool {
        self.owned
            .iter()
            .any(|o| o.partition.is(topic, partition) && o.epoch == epoch && !o.revoking)
    }

    /// A number that changes whenever the assignment does.
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    /// The worker takes a batch in hand: returns the partitions whose
    /// messages it may work on, with their epoch, and remembers them as in
    /// flight until [`Ownership::release`].
    pub(crate) fn claim<'a>(
        &mut self,
        read: impl IntoIterator<Item = (&'a str, i32, u64)>,
    ) -> Vec<(Partition, u64)> {
        self.in_flight.clear();
        for (topic, partition, epoch) in read {
            if self.workable(topic, partition, epoch)
                && !self.in_flight.iter().any(|(p, e)| p.is(topic, partition) && *e == epoch)
            {
                self.in_flight.push((Partition::new(topic, partition), epoch));
            }
        }
        self.in_flight.clone()
    }

    /// Takes the in-flight partitions that may no longer be worked on (being
    /// revoked, or gone) out of the worker's hands and returns them.
    pub(crate) fn abandon_unworkable(&mut self) -> Vec<Partition> {
        let mut gone = Vec::new();
        let owned = &self.owned;
        self.in_flight.retain(|(p, epoch)| {
            let keep = owned.iter().any(|o| &o.partition == p && o.epoch == *epoch && !o.revoking);
            if !keep {
                gone.push(p.clone());
            }
            keep
        });
        gone
    }

    /// The worker has handed its batch's commit over.
    pub(crate) fn release(&mut self) {
        self.in_flight.clear();
    }

    /// Whether the worker still has in hand, under their current epoch,
    /// any of `partitions`: a revocation waits for that to end.
    pub(crate) fn in_flight(&self, partitions: &[Partition]) -> bool {
        self.in_flight.iter().any(|(p, epoch)| {
            partitions.contains(p) && self.epoch(&p.topic, p.partition) == Some(*epoch)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(partition: i32) -> Partition {
        Partition::new("t", partition)
    }

    #[test]
    fn every_assignment_gets_a_new_epoch() {
        let mut o = Ownership::default();
        assert_eq!(o.epoch("t", 0), None);
        o.assign(&[p(0), p(1)]);
        let (e0, e1) = (o.epoch("t", 0).unwrap(), o.epoch("t", 1).unwrap());
        assert_ne!(e0, e1);
        // An incremental assignment keeps the epochs of what stays.
        o.assign(&[p(0), p(1), p(2)]);
        assert_eq!((o.epoch("t", 0), o.epoch("t", 1)), (Some(e0), Some(e1)));
        // Revoked, then assigned again: read under the old epoch is stale.
        o.begin_revoke(&[p(0)]);
        assert!(o.committable("t", 0, e0), "still ours while the revocation runs");
        assert!(!o.workable("t", 0, e0), "but no new work starts on it");
        o.end_revoke(&[p(0)]);
        assert!(!o.committable("t", 0, e0));
        o.assign(&[p(0), p(1), p(2)]);
        let again = o.epoch("t", 0).unwrap();
        assert!(again != e0 && !o.committable("t", 0, e0) && o.committable("t", 0, again));
        // A full assignment without a partition forgets it.
        o.assign(&[p(1)]);
        assert_eq!((o.epoch("t", 0), o.epoch("t", 1), o.epoch("t", 2)), (None, Some(e1), None));
    }

    #[test]
    fn a_revocation_waits_for_work_in_hand_and_work_is_abandoned_on_it() {
        let mut o = Ownership::default();
        o.assign(&[p(0), p(1)]);
        let (e0, e1) = (o.epoch("t", 0).unwrap(), o.epoch("t", 1).unwrap());
        let claimed = o.claim([("t", 0, e0), ("t", 0, e0), ("t", 1, e1), ("t", 2, 9), ("t", 1, 0)]);
        assert_eq!(claimed, [(p(0), e0), (p(1), e1)], "unowned and stale messages are not claimed");
        assert!(!o.in_flight(&[p(2)]));
        o.begin_revoke(&[p(0)]);
        assert!(o.in_flight(&[p(0)]), "a revocation of p0 has to wait");
        assert_eq!(o.abandon_unworkable(), [p(0)]);
        assert!(!o.in_flight(&[p(0)]));
        assert!(o.abandon_unworkable().is_empty());
        assert!(o.in_flight(&[p(1)]));
        o.release();
        assert!(!o.in_flight(&[p(1)]));
    }

    #[test]
    fn work_in_hand_from_an_old_epoch_does_not_hold_a_new_revocation() {
        let mut o = Ownership::default();
        o.assign(&[p(0)]);
        let e0 = o.epoch("t", 0).unwrap();
        o.claim([("t", 0, e0)]);
        o.begin_revoke(&[p(0)]);
        o.end_revoke(&[p(0)]);
        o.assign(&[p(0)]);
        o.begin_revoke(&[p(0)]);
        assert!(!o.in_flight(&[p(0)]), "the batch in hand is of the old assignment");
    }

    #[test]
    fn version_moves_with_every_change() {
        let mut o = Ownership::default();
        let v = o.version();
        o.assign(&[p(0)]);
        let v1 = o.version();
        o.begin_revoke(&[p(0)]);
        let v2 = o.version();
        o.end_revoke(&[p(0)]);
        assert!(v < v1 && v1 < v2 && v2 < o.version());
    }
}
