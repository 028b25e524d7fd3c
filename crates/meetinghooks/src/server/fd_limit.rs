//! The process's file-descriptor limit: raised to the hard limit at start, and the connection
//! cap kept well below it, so sockets for deliveries and the database are always left.

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the soft limit now in force.
pub fn raise_nofile_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    Some(limit.rlim_cur)
}

/// The connection cap in force: the configured one, lowered when the descriptors left after
/// `reserved` (delivery sockets, database connections, files) cannot hold it.
pub fn connection_cap(configured: usize, soft_limit: Option<u64>, reserved: usize) -> usize {
    const FLOOR: usize = 16;
    match soft_limit {
        Some(limit) => {
            let room = usize::try_from(limit)
                .unwrap_or(usize::MAX)
                .saturating_sub(reserved);
            configured.min(room).max(FLOOR)
        }
        None => configured,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_for_deliveries() {
        assert_eq!(connection_cap(4096, Some(20_000), 1_200), 4096);
        assert_eq!(connection_cap(4096, Some(1_024), 600), 424);
        assert_eq!(connection_cap(4096, Some(1_024), 2_000), 16);
        assert_eq!(connection_cap(4096, None, 2_000), 4096);
    }

    #[test]
    fn the_soft_limit_is_at_most_the_hard_limit() {
        let soft = raise_nofile_limit().expect("getrlimit works on Linux");
        assert!(soft >= 16);
    }
}
