//! How a group's grant gives access: automatically or after approvals, under which maximum,
//! for which JIT roles, and whether break-glass is allowed; and which of a user's grants
//! decides a request (see docs/access-requests.md).

use super::identity_center::PermissionSetArn;
use super::{AccessGroup, AccountId, Collector, GroupId, Invalid, MaxDuration, RoleArn, SessionKind};

/// At most this many approvals, and approver groups, per grant.
pub const MAX_APPROVALS: u32 = 10;
pub const MAX_APPROVER_GROUPS: usize = 10;

/// N approvals from members of any of the approver groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub approvals_required: u32,
    pub approver_groups: Vec<GroupId>,
}

impl Approval {
    pub fn parse(approvals_required: i64, approver_groups: &[String]) -> Result<Self, Invalid> {
        let mut c = Collector::default();
        if !(1..=MAX_APPROVALS as i64).contains(&approvals_required) {
            c.push(
                "policy.approval.approvals_required",
                format!("must be 1 to {MAX_APPROVALS}"),
            );
        }
        if approver_groups.is_empty() || approver_groups.len() > MAX_APPROVER_GROUPS {
            c.push(
                "policy.approval.approver_group_ids",
                format!("must name 1 to {MAX_APPROVER_GROUPS} groups"),
            );
        }
        let mut groups: Vec<GroupId> = Vec::new();
        for (i, raw) in approver_groups.iter().enumerate() {
            let field = format!("policy.approval.approver_group_ids[{i}]");
            if let Some(g) = c.take(GroupId::parse(raw).map_err(|e| e.under(&field)))
                && !groups.contains(&g)
            {
                groups.push(g);
            }
        }
        c.finish()?;
        Ok(Approval {
            approvals_required: approvals_required as u32,
            approver_groups: groups,
        })
    }
}

/// A group's policy for the access it grants. The default is today's: automatic, under the
/// account's maximum, every allowed role, no break-glass.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GrantPolicy {
    /// `None`: access is given at once.
    pub approval: Option<Approval>,
    /// A cap under the account's own maximum.
    pub max_duration: Option<MaxDuration>,
    /// The JIT roles this grant covers; `None`: every role the account allows.
    pub jit_roles: Option<Vec<RoleArn>>,
    /// Break-glass allowed, under this maximum.
    pub break_glass_max: Option<MaxDuration>,
    /// The Identity Center permission sets this grant covers; `None`: none (unlike JIT roles,
    /// no account lists them: a grant names each one).
    pub permission_sets: Option<Vec<PermissionSetArn>>,
}

impl GrantPolicy {
    pub fn parse(
        approval: Option<Approval>,
        max_duration_seconds: Option<i64>,
        jit_role_arns: Option<&[String]>,
        break_glass_max_seconds: Option<i64>,
        permission_set_arns: Option<&[String]>,
    ) -> Result<Self, Invalid> {
        let mut c = Collector::default();
        let max_duration = max_duration_seconds
            .and_then(|s| c.take(MaxDuration::parse(s).map_err(|e| e.under("policy.max_duration_seconds"))));
        let break_glass_max = break_glass_max_seconds.and_then(|s| {
            c.take(MaxDuration::parse(s).map_err(|e| e.under("policy.break_glass.max_duration_seconds")))
        });
        if let (Some(bg), Some(max)) = (break_glass_max, max_duration)
            && bg.seconds() > max.seconds()
        {
            c.push(
                "policy.break_glass.max_duration_seconds",
                "must not exceed the policy's max_duration_seconds",
            );
        }
        let jit_roles = jit_role_arns.map(|arns| {
            if arns.len() > super::MAX_ALLOWED_ROLES {
                c.push(
                    "policy.jit_role_arns",
                    format!("at most {} roles", super::MAX_ALLOWED_ROLES),
                );
            }
            let mut roles: Vec<RoleArn> = Vec::new();
            for (i, raw) in arns.iter().enumerate() {
                if let Some(r) = c.take(RoleArn::parse(raw).map_err(|e| e.under(&format!("policy.jit_role_arns[{i}]"))))
                    && !roles.contains(&r)
                {
                    roles.push(r);
                }
            }
            roles
        });
        let permission_sets = permission_set_arns.map(|arns| {
            if arns.len() > super::MAX_ALLOWED_ROLES {
                c.push(
                    "policy.permission_set_arns",
                    format!("at most {} permission sets", super::MAX_ALLOWED_ROLES),
                );
            }
            let mut sets: Vec<PermissionSetArn> = Vec::new();
            for (i, raw) in arns.iter().enumerate() {
                if let Some(p) = c.take(
                    PermissionSetArn::parse(raw).map_err(|e| e.under(&format!("policy.permission_set_arns[{i}]"))),
                ) && !sets.contains(&p)
                {
                    sets.push(p);
                }
            }
            sets
        });
        c.finish()?;
        Ok(GrantPolicy {
            approval,
            max_duration,
            jit_roles,
            break_glass_max,
            permission_sets,
        })
    }
}

/// What a request asks for, as far as choosing a grant goes.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    pub account: &'a AccountId,
    pub kind: SessionKind,
    pub role: Option<&'a RoleArn>,
    /// An Identity Center session's permission set.
    pub permission_set: Option<&'a PermissionSetArn>,
    pub duration_seconds: u32,
    pub break_glass: bool,
}

/// The grant that decides a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Start at once.
    Automatic,
    /// Start at once, flagged, for review by these groups.
    BreakGlass { reviewers: Vec<GroupId> },
    /// Wait for approvals.
    Approval(Approval),
}

/// Why no grant decides a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoGrant {
    /// No group grants this kind (and role) on the account.
    NotGranted(String),
    /// Granted, but not for this long: the longest any covering grant allows.
    TooLong { max: u32 },
}

fn grants<'a>(groups: &'a [AccessGroup], asked: &Asked<'_>) -> impl Iterator<Item = &'a AccessGroup> {
    let asked = *asked;
    groups.iter().filter(move |g| {
        let kind = g.permissions.allows(asked.kind);
        let role = match (&g.policy.jit_roles, asked.role) {
            (Some(roles), Some(role)) => roles.contains(role),
            _ => true,
        };
        // A permission set is covered only where the grant names it.
        let permission_set = match asked.permission_set {
            Some(p) => g.policy.permission_sets.as_ref().is_some_and(|sets| sets.contains(p)),
            None => true,
        };
        kind && role && permission_set && g.accounts.covers(asked.account)
    })
}

/// Chooses the grant that decides `asked` among the user's `groups` (see the module doc and
/// docs/access-requests.md): automatic beats approval, fewer approvals beat more, the lowest
/// group id breaks ties; only grants allowing the duration count. `account_max` is the
/// account's own maximum (every grant is under it).
pub fn choose(groups: &[AccessGroup], asked: &Asked<'_>, account_max: u32) -> Result<Decision, NoGrant> {
    let mut covering: Vec<&AccessGroup> = grants(groups, asked).collect();
    if covering.is_empty() {
        return Err(NoGrant::NotGranted(match (asked.role, asked.permission_set) {
            (Some(role), _) => format!("no access group grants {role} on this account"),
            (None, Some(set)) => format!("no access group grants permission set {set} on this account"),
            (None, None) => "no access group grants this kind of session on this account".into(),
        }));
    }
    covering.sort_by(|a, b| a.id.cmp(&b.id));
    let limit = |g: &AccessGroup| {
        let max = g
            .policy
            .max_duration
            .map_or(account_max, |m| m.seconds().min(account_max));
        if asked.break_glass {
            g.policy.break_glass_max.map(|b| b.seconds().min(max))
        } else {
            Some(max)
        }
    };
    // Grants that allow what is asked at all (break-glass: those allowing it), then those
    // allowing it for this long.
    let allowing: Vec<&AccessGroup> = covering.into_iter().filter(|g| limit(g).is_some()).collect();
    if allowing.is_empty() {
        return Err(NoGrant::NotGranted(
            "no access group allows break-glass for this access".into(),
        ));
    }
    let fits: Vec<&AccessGroup> = allowing
        .iter()
        .copied()
        .filter(|g| limit(g).is_some_and(|m| asked.duration_seconds <= m))
        .collect();
    if fits.is_empty() {
        return Err(NoGrant::TooLong {
            max: allowing.iter().filter_map(|g| limit(g)).max().unwrap_or(0),
        });
    }
    if asked.break_glass {
        // Reviewers: the approvers of the grants allowing it (admins review where none).
        let mut reviewers: Vec<GroupId> = Vec::new();
        for r in fits
            .iter()
            .flat_map(|g| g.policy.approval.iter().flat_map(|a| &a.approver_groups))
        {
            if !reviewers.contains(r) {
                reviewers.push(r.clone());
            }
        }
        return Ok(Decision::BreakGlass { reviewers });
    }
    if fits.iter().any(|g| g.policy.approval.is_none()) {
        return Ok(Decision::Automatic);
    }
    let fewest = fits
        .iter()
        .filter_map(|g| g.policy.approval.as_ref())
        .min_by_key(|a| a.approvals_required)
        .expect("every fitting grant needs approval");
    Ok(Decision::Approval(fewest.clone()))
}

/// What a user may ask for of one kind (and, for JIT, one role) on an account, so that a
/// client can offer only what a start would accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    /// The longest session any covering grant allows.
    pub max_seconds: u32,
    /// Whether even the shortest session waits for approval.
    pub needs_approval: bool,
    /// The longest session that starts at once (`None`: every session waits for approval).
    pub automatic_max_seconds: Option<u32>,
    /// The longest break-glass session, where a covering grant allows break-glass.
    pub break_glass_max_seconds: Option<u32>,
}

/// The offer `groups` make for `kind` (and `role`) on `account`, `None` where no grant covers
/// it. Decided by the same `grants` and `choose` a start uses.
pub fn offer(
    groups: &[AccessGroup],
    account: &AccountId,
    kind: SessionKind,
    role: Option<&RoleArn>,
    permission_set: Option<&PermissionSetArn>,
    account_max: u32,
) -> Option<Offer> {
    let asked = Asked {
        account,
        kind,
        role,
        permission_set,
        duration_seconds: super::MIN_SESSION_SECONDS,
        break_glass: false,
    };
    let max_of = |g: &AccessGroup| {
        g.policy
            .max_duration
            .map_or(account_max, |m| m.seconds().min(account_max))
    };
    let covering: Vec<&AccessGroup> = grants(groups, &asked).collect();
    let max_seconds = covering.iter().map(|g| max_of(g)).max()?;
    let automatic_max_seconds = covering
        .iter()
        .filter(|g| g.policy.approval.is_none())
        .map(|g| max_of(g))
        .max();
    let break_glass_max_seconds = covering
        .iter()
        .filter_map(|g| g.policy.break_glass_max.map(|b| b.seconds().min(max_of(g))))
        .max();
    Some(Offer {
        max_seconds,
        needs_approval: matches!(choose(groups, &asked, account_max), Ok(Decision::Approval(_))),
        automatic_max_seconds,
        break_glass_max_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AccountScope, GroupName, Permissions};

    fn group(id: &str, policy: GrantPolicy) -> AccessGroup {
        let now = time::OffsetDateTime::now_utc();
        AccessGroup {
            id: GroupId::parse(id).unwrap(),
            name: GroupName::parse("g").unwrap(),
            description: String::new(),
            accounts: AccountScope::All,
            permissions: Permissions {
                start_sessions: true,
                start_jit_sessions: true,
                start_shell_sessions: false,
                start_identity_center_sessions: false,
            },
            policy,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    const G1: &str = "01JAAAAAAAAAAAAAAAAAAAAAA1";
    const G2: &str = "01JAAAAAAAAAAAAAAAAAAAAAA2";
    const APPROVERS: &str = "01JAAAAAAAAAAAAAAAAAAAAAA9";

    fn approval(n: u32) -> Option<Approval> {
        Some(Approval {
            approvals_required: n,
            approver_groups: vec![GroupId::parse(APPROVERS).unwrap()],
        })
    }

    fn asked(account: &AccountId, seconds: u32, break_glass: bool) -> Asked<'_> {
        Asked {
            account,
            kind: SessionKind::Jit,
            role: None,
            permission_set: None,
            duration_seconds: seconds,
            break_glass,
        }
    }

    #[test]
    fn automatic_wins_then_fewest_approvals() {
        let a = AccountId::generate();
        let two = group(
            G1,
            GrantPolicy {
                approval: approval(2),
                ..Default::default()
            },
        );
        let one = group(
            G2,
            GrantPolicy {
                approval: approval(1),
                ..Default::default()
            },
        );
        let auto_short = group(
            G2,
            GrantPolicy {
                max_duration: Some(MaxDuration::parse(900).unwrap()),
                ..Default::default()
            },
        );
        assert_eq!(
            choose(&[two.clone(), one.clone()], &asked(&a, 3600, false), 3600),
            Ok(Decision::Approval(approval(1).unwrap()))
        );
        // The automatic grant counts only for what it allows.
        let both = [two.clone(), auto_short];
        assert_eq!(choose(&both, &asked(&a, 900, false), 3600), Ok(Decision::Automatic));
        assert_eq!(
            choose(&both, &asked(&a, 1800, false), 3600),
            Ok(Decision::Approval(approval(2).unwrap()))
        );
        assert_eq!(
            choose(&both, &asked(&a, 7200, false), 3600),
            Err(NoGrant::TooLong { max: 3600 })
        );
    }

    #[test]
    fn break_glass_needs_a_grant_allowing_it_under_its_maximum() {
        let a = AccountId::generate();
        let plain = group(
            G1,
            GrantPolicy {
                approval: approval(2),
                ..Default::default()
            },
        );
        assert!(matches!(
            choose(std::slice::from_ref(&plain), &asked(&a, 900, true), 3600),
            Err(NoGrant::NotGranted(_))
        ));
        let glass = group(
            G2,
            GrantPolicy {
                approval: approval(2),
                break_glass_max: Some(MaxDuration::parse(1800).unwrap()),
                ..Default::default()
            },
        );
        assert_eq!(
            choose(&[plain.clone(), glass.clone()], &asked(&a, 1800, true), 3600),
            Ok(Decision::BreakGlass {
                reviewers: vec![GroupId::parse(APPROVERS).unwrap()]
            })
        );
        assert_eq!(
            choose(&[plain, glass], &asked(&a, 1801, true), 3600),
            Err(NoGrant::TooLong { max: 1800 })
        );
    }

    #[test]
    fn jit_roles_limit_what_a_grant_covers() {
        let a = AccountId::generate();
        let admin = RoleArn::parse("arn:aws:iam::123456789012:role/Admin").unwrap();
        let read = RoleArn::parse("arn:aws:iam::123456789012:role/Read").unwrap();
        let g = group(
            G1,
            GrantPolicy {
                jit_roles: Some(vec![read.clone()]),
                ..Default::default()
            },
        );
        let mut ask = asked(&a, 900, false);
        ask.role = Some(&read);
        assert_eq!(choose(std::slice::from_ref(&g), &ask, 3600), Ok(Decision::Automatic));
        ask.role = Some(&admin);
        assert!(matches!(choose(&[g], &ask, 3600), Err(NoGrant::NotGranted(_))));
    }

    #[test]
    fn a_permission_set_is_granted_only_where_a_grant_names_it() {
        let a = AccountId::generate();
        let admin =
            PermissionSetArn::parse("arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-aaaaaaaaaaaaaaaa").unwrap();
        let read =
            PermissionSetArn::parse("arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-bbbbbbbbbbbbbbbb").unwrap();
        let mut naming = group(
            G1,
            GrantPolicy {
                permission_sets: Some(vec![read.clone()]),
                ..Default::default()
            },
        );
        naming.permissions.start_identity_center_sessions = true;
        // Allowed the kind, naming no permission set: covers none.
        let mut silent = group(G2, GrantPolicy::default());
        silent.permissions.start_identity_center_sessions = true;
        let mut ask = asked(&a, 900, false);
        ask.kind = SessionKind::IdentityCenter;
        ask.permission_set = Some(&read);
        assert_eq!(
            choose(&[naming.clone(), silent.clone()], &ask, 3600),
            Ok(Decision::Automatic)
        );
        assert!(matches!(
            choose(std::slice::from_ref(&silent), &ask, 3600),
            Err(NoGrant::NotGranted(_))
        ));
        ask.permission_set = Some(&admin);
        assert!(
            matches!(choose(&[naming.clone(), silent], &ask, 3600), Err(NoGrant::NotGranted(m)) if m.contains("ps-aaaaaaaaaaaaaaaa"))
        );
        // The permission without the kind grants nothing.
        naming.permissions.start_identity_center_sessions = false;
        ask.permission_set = Some(&read);
        assert!(choose(&[naming], &ask, 3600).is_err());
    }

    #[test]
    fn an_offer_is_what_a_start_would_accept() {
        let a = AccountId::generate();
        let admin = RoleArn::parse("arn:aws:iam::123456789012:role/Admin").unwrap();
        let read = RoleArn::parse("arn:aws:iam::123456789012:role/Read").unwrap();
        let approved_admin = group(
            G1,
            GrantPolicy {
                approval: approval(1),
                jit_roles: Some(vec![admin.clone()]),
                break_glass_max: Some(MaxDuration::parse(1800).unwrap()),
                ..Default::default()
            },
        );
        let short_read = group(
            G2,
            GrantPolicy {
                max_duration: Some(MaxDuration::parse(1800).unwrap()),
                jit_roles: Some(vec![read.clone()]),
                ..Default::default()
            },
        );
        let groups = [approved_admin, short_read];
        assert_eq!(
            offer(&groups, &a, SessionKind::Jit, Some(&admin), None, 3600),
            Some(Offer {
                max_seconds: 3600,
                needs_approval: true,
                automatic_max_seconds: None,
                break_glass_max_seconds: Some(1800)
            })
        );
        assert_eq!(
            offer(&groups, &a, SessionKind::Jit, Some(&read), None, 3600),
            Some(Offer {
                max_seconds: 1800,
                needs_approval: false,
                automatic_max_seconds: Some(1800),
                break_glass_max_seconds: None
            })
        );
        let other = RoleArn::parse("arn:aws:iam::123456789012:role/Other").unwrap();
        assert_eq!(offer(&groups, &a, SessionKind::Jit, Some(&other), None, 3600), None);
        // Console sessions name no role: every grant allowing them counts, automatic wins up to
        // its own maximum; longer waits for approval.
        assert_eq!(
            offer(&groups, &a, SessionKind::Console, None, None, 3600),
            Some(Offer {
                max_seconds: 3600,
                needs_approval: false,
                automatic_max_seconds: Some(1800),
                break_glass_max_seconds: Some(1800)
            })
        );
    }

    #[test]
    fn policies_are_validated() {
        assert!(Approval::parse(0, &[APPROVERS.into()]).is_err());
        assert!(Approval::parse(11, &[APPROVERS.into()]).is_err());
        assert!(Approval::parse(1, &[]).is_err());
        assert!(Approval::parse(2, &[APPROVERS.into(), "x".into()]).is_err());
        assert!(GrantPolicy::parse(None, Some(900), None, Some(1800), None).is_err());
        assert!(GrantPolicy::parse(None, Some(3600), Some(&["nope".into()]), Some(1800), None).is_err());
        assert!(GrantPolicy::parse(approval(1), Some(3600), None, Some(1800), None).is_ok());
    }
}
