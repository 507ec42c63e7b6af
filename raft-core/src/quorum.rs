//! Majority arithmetic over the voter set.

/// The number of voters that make a majority of `n`.
pub(crate) const fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// The largest value that at least a majority of `values` reach: sort descending and take
/// the majority-th. Works in place on a small copy; `values` is at most `PEERS` long.
pub(crate) fn committed_value<const P: usize>(values: &mut heapless::Vec<u64, P>) -> u64 {
    let n = values.len();
    if n == 0 {
        return 0;
    }
    sort_descending(values);
    values[majority(n) - 1]
}

/// Insertion sort, largest first: `values` holds at most `PEERS` (a handful) items, and the
/// library's sort would cost kilobytes of flash per element type for nothing.
pub(crate) fn sort_descending(values: &mut [u64]) {
    for k in 1..values.len() {
        let mut j = k;
        while j > 0 && values[j - 1] < values[j] {
            values.swap(j - 1, j);
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_value_is_the_median_from_the_top() {
        assert_eq!(majority(1), 1);
        assert_eq!(majority(4), 3);
        let mut v: heapless::Vec<u64, 5> = heapless::Vec::from_slice(&[5, 1, 9, 7, 3]).unwrap();
        assert_eq!(committed_value(&mut v), 5);
        let mut v: heapless::Vec<u64, 4> = heapless::Vec::from_slice(&[5, 1, 9, 7]).unwrap();
        assert_eq!(committed_value(&mut v), 5);
        let mut w = [3, 8, 1, 8, 0, 5];
        sort_descending(&mut w);
        assert_eq!(w, [8, 8, 5, 3, 1, 0]);
    }
}
