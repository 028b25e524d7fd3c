//! The process's file-descriptor budget: the soft limit raised to the hard limit at start, a
//! fixed reserve for the database and files, deliveries' sockets, and what is left for API
//! connections, with the headroom the accept loop needs to shed past the cap.

/// Descriptors kept for files, listeners, the SQLite files, logs and the runtime.
pub const FIXED_RESERVE: usize = 64;
/// The fewest API connections worth starting with (unless fewer are configured); fewer is a
/// configuration error.
pub const MIN_CONNECTIONS: usize = 64;

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

/// Connections the accept loop may hold past the cap while shed ones close: one in eight,
/// at least 16.
pub fn shedding_headroom(max_connections: usize) -> usize {
    (max_connections / 8).max(16)
}

/// What competes with API connections for descriptors.
#[derive(Debug, Clone, Copy)]
pub struct FdDemand {
    /// `max_connections` as configured.
    pub configured: usize,
    /// Delivery attempts in flight at most (`global_concurrency`), one socket each.
    pub deliveries: usize,
    /// Database connections (`database_max_connections`).
    pub database: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdBudget {
    /// The connection cap in force.
    pub max_connections: usize,
    /// Descriptors left for delivery sockets; fewer than `global_concurrency` when lowered.
    pub deliveries: usize,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "the open-files limit ({limit}) leaves room for only {room} API connections (at least \
     {MIN_CONNECTIONS} needed) after {reserved} for the database, files and deliveries: \
     raise the hard limit (`ulimit -Hn`, systemd `LimitNOFILE=`) or lower \
     global_concurrency / database_max_connections"
)]
pub struct FdLimitTooLow {
    pub limit: u64,
    pub room: usize,
    pub reserved: usize,
}

/// Splits the soft limit: the fixed reserve and the database first; then API connections
/// (with their shedding headroom) and delivery sockets. When both cannot have all they ask,
/// each gets at least half of what is left, so a low limit lowers both rather than leaving the
/// API a token cap.
pub fn fd_budget(demand: FdDemand, soft_limit: Option<u64>) -> Result<FdBudget, FdLimitTooLow> {
    let wanted = FdBudget {
        max_connections: demand.configured,
        deliveries: demand.deliveries,
    };
    let Some(limit) = soft_limit else {
        return Ok(wanted);
    };
    let reserved = FIXED_RESERVE + demand.database;
    let left = usize::try_from(limit)
        .unwrap_or(usize::MAX)
        .saturating_sub(reserved);
    let api_wanted = demand.configured + shedding_headroom(demand.configured);
    if api_wanted + demand.deliveries <= left {
        return Ok(wanted);
    }
    let half = left / 2;
    let deliveries = demand
        .deliveries
        .min(half.max(left.saturating_sub(api_wanted)));
    let api_room = left - deliveries;
    // The cap whose headroom still fits: cap + max(cap / 8, 16) <= api_room.
    let max_connections = demand
        .configured
        .min((api_room * 8 / 9).min(api_room.saturating_sub(16)));
    if max_connections < MIN_CONNECTIONS.min(demand.configured) {
        return Err(FdLimitTooLow {
            limit,
            room: max_connections,
            reserved: reserved + deliveries,
        });
    }
    Ok(FdBudget {
        max_connections,
        deliveries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demand(configured: usize, deliveries: usize, database: usize) -> FdDemand {
        FdDemand {
            configured,
            deliveries,
            database,
        }
    }

    fn fits(budget: FdBudget, demand: FdDemand, limit: u64) -> bool {
        let used = FIXED_RESERVE
            + demand.database
            + budget.deliveries
            + budget.max_connections
            + shedding_headroom(budget.max_connections);
        used as u64 <= limit
    }

    #[test]
    fn a_high_limit_keeps_the_configured_cap() {
        let wanted = demand(4096, 1024, 16);
        let budget = fd_budget(wanted, Some(20_000)).unwrap();
        assert_eq!(budget.max_connections, 4096);
        assert_eq!(budget.deliveries, 1024);
        assert!(fits(budget, wanted, 20_000));
        assert_eq!(fd_budget(wanted, None).unwrap().max_connections, 4096);
    }

    #[test]
    fn a_hard_limit_of_1024_leaves_hundreds_of_connections_not_16() {
        // The defaults under a common hard limit: everything must still fit.
        let wanted = demand(4096, 1024, 16);
        let budget = fd_budget(wanted, Some(1024)).unwrap();
        assert!(budget.max_connections >= 400, "{budget:?}");
        assert!(budget.deliveries >= 400, "{budget:?}");
        assert!(fits(budget, wanted, 1024), "{budget:?}");
    }

    #[test]
    fn small_demands_are_not_cut_for_the_other_side() {
        // Few deliveries: the API gets the rest, not just half.
        let wanted = demand(4096, 64, 16);
        let budget = fd_budget(wanted, Some(2048)).unwrap();
        assert_eq!(budget.deliveries, 64);
        assert!(budget.max_connections > 1500, "{budget:?}");
        assert!(fits(budget, wanted, 2048), "{budget:?}");
        // A small cap: deliveries get the rest.
        let wanted = demand(256, 4096, 16);
        let budget = fd_budget(wanted, Some(2048)).unwrap();
        assert_eq!(budget.max_connections, 256);
        assert!(fits(budget, wanted, 2048), "{budget:?}");
    }

    #[test]
    fn the_budget_always_fits_the_limit() {
        for limit in [256_u64, 300, 1024, 4096, 65_536] {
            for configured in [16, 64, 1000, 4096, 100_000] {
                for deliveries in [1, 64, 1024, 20_000] {
                    let wanted = demand(configured, deliveries, 16);
                    if let Ok(budget) = fd_budget(wanted, Some(limit)) {
                        assert!(
                            fits(budget, wanted, limit),
                            "{wanted:?} {limit}: {budget:?}"
                        );
                        assert!(budget.max_connections >= MIN_CONNECTIONS.min(configured));
                    }
                }
            }
        }
    }

    #[test]
    fn too_low_a_limit_is_an_error_that_says_what_to_raise() {
        let error = fd_budget(demand(4096, 1024, 16), Some(200)).unwrap_err();
        assert!(error.room < MIN_CONNECTIONS, "{error:?}");
        let text = error.to_string();
        assert!(text.contains("open-files limit (200)"), "{text}");
        assert!(text.contains("LimitNOFILE"), "{text}");
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_limit() {
        let soft = raise_nofile_limit().expect("getrlimit works on Linux");
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct passed.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        assert_eq!(soft, limit.rlim_cur);
        assert_eq!(limit.rlim_cur, limit.rlim_max);
    }
}
