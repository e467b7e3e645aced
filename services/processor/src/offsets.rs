//! The offsets to commit once a batch is handled: for each partition, one
//! past the highest offset handled, kept only while the assignment the
//! messages were read under is still the current one.

use crate::batch::Pending;
use crate::ownership::Ownership;

/// The offset the group should next read from one partition, and the
/// assignment epoch of the messages it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mark {
    /// Topic.
    pub(crate) topic: String,
    /// Partition.
    pub(crate) partition: i32,
    /// The epoch the messages were read under.
    pub(crate) epoch: u64,
    /// One past the highest offset handled.
    pub(crate) next_offset: i64,
}

/// The marks of handled messages, one per partition and epoch, in the order
/// the partitions first appear.
pub(crate) fn next_offsets<'a>(handled: impl IntoIterator<Item = &'a Pending>) -> Vec<Mark> {
    let mut marks: Vec<Mark> = Vec::new();
    for m in handled.into_iter().map(|p| &*p.message) {
        match marks
            .iter_mut()
            .find(|k| k.partition == m.partition && k.epoch == m.epoch && k.topic == m.topic)
        {
            Some(k) => k.next_offset = k.next_offset.max(m.offset + 1),
            None => marks.push(Mark {
                topic: m.topic.clone(),
                partition: m.partition,
                epoch: m.epoch,
                next_offset: m.offset + 1,
            }),
        }
    }
    marks
}

/// Several batches' marks as one: the highest per partition and epoch.
pub(crate) fn merge(marks: impl IntoIterator<Item = Mark>) -> Vec<Mark> {
    let mut merged: Vec<Mark> = Vec::new();
    for m in marks {
        match merged
            .iter_mut()
            .find(|k| k.partition == m.partition && k.epoch == m.epoch && k.topic == m.topic)
        {
            Some(k) => k.next_offset = k.next_offset.max(m.next_offset),
            None => merged.push(m),
        }
    }
    merged
}

/// The marks that may be committed now: those of partitions still ours
/// under the same assignment they were read under.
pub(crate) fn committable(marks: Vec<Mark>, ownership: &Ownership) -> Vec<Mark> {
    marks.into_iter().filter(|k| ownership.committable(&k.topic, k.partition, k.epoch)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::batch::Message;
    use crate::batch::tests::source;
    use crate::ownership::Partition;

    fn at(partition: i32, offset: i64, epoch: u64) -> Pending {
        Pending::whole(Arc::new(Message { epoch, ..source(partition, offset) }))
    }

    #[test]
    fn one_past_the_highest_offset_per_partition_and_epoch() {
        let batch = [at(0, 7, 1), at(1, 3, 1), at(0, 5, 1), at(0, 9, 1), at(1, 4, 1), at(1, 0, 2)];
        let marks: Vec<(i32, u64, i64)> = next_offsets(&batch)
            .into_iter()
            .map(|k| (k.partition, k.epoch, k.next_offset))
            .collect();
        assert_eq!(marks, [(0, 1, 10), (1, 1, 5), (1, 2, 1)]);
        assert!(next_offsets(&[]).is_empty());
    }

    #[test]
    fn merged_marks_keep_the_highest_per_partition_and_epoch() {
        let first = next_offsets(&[at(0, 4, 1), at(1, 8, 1)]);
        let second = next_offsets(&[at(0, 9, 1), at(0, 2, 2)]);
        let third = next_offsets(&[at(1, 6, 1)]);
        let merged: Vec<(i32, u64, i64)> = merge(first.into_iter().chain(second).chain(third))
            .into_iter()
            .map(|k| (k.partition, k.epoch, k.next_offset))
            .collect();
        assert_eq!(merged, [(0, 1, 10), (1, 1, 9), (0, 2, 3)]);
    }

    #[test]
    fn only_partitions_still_ours_under_the_same_assignment_are_committed() {
        let mut o = Ownership::default();
        o.assign(&[Partition::new("t", 0), Partition::new("t", 1), Partition::new("t", 2)]);
        let e = |p| o.epoch("t", p).unwrap();
        let batch = [at(0, 4, e(0)), at(1, 8, e(1)), at(2, 2, e(2)), at(3, 1, 99)];
        let marks = next_offsets(&batch);
        // Partition 1 revoked and assigned again meanwhile (another member
        // may have committed further in between), 2 being revoked, 3 never ours.
        o.begin_revoke(&[Partition::new("t", 1), Partition::new("t", 2)]);
        o.end_revoke(&[Partition::new("t", 1)]);
        o.assign(&[Partition::new("t", 0), Partition::new("t", 1), Partition::new("t", 2)]);
        let kept: Vec<(i32, i64)> =
            committable(marks, &o).into_iter().map(|k| (k.partition, k.next_offset)).collect();
        assert_eq!(kept, [(0, 5), (2, 3)], "a partition being revoked is still ours to commit");
    }
}
