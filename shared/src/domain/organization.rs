//! AWS Organizations as the broker sees them: an organization registered through a read-only
//! role, its OU tree and member accounts as last discovered, where each member sits (its OU
//! path), and what changed between two discoveries. Pure: the discovery itself is a port.
//!
//! Ids as AWS Organizations defines them ("Organizations API reference", the `Id` patterns of
//! `Organization`, `Root`, `OrganizationalUnit` and `Account`).

use std::collections::{HashMap, HashSet};
use std::fmt;

use time::OffsetDateTime;

use super::{AccountId, AwsAccountId, Invalid, Region, RoleArn, Sealed};

fn lower_alnum(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// An organization's id, `o-` and 10 to 32 lower-case letters or digits. The broker's API
/// names a registered organization by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrganizationId(String);

impl OrganizationId {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s.strip_prefix("o-") {
            Some(rest) if lower_alnum(rest, 10, 32) => Ok(OrganizationId(s.to_string())),
            _ => Err(Invalid::field(
                "",
                "must be an organization id (o- and 10 to 32 of a-z 0-9)",
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrganizationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An organizational unit's id, `ou-`, 4 to 32 of the root's characters, `-`, 8 to 32 more.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OuId(String);

impl OuId {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let ok = s
            .strip_prefix("ou-")
            .and_then(|rest| rest.split_once('-'))
            .is_some_and(|(a, b)| lower_alnum(a, 4, 32) && lower_alnum(b, 8, 32));
        if ok {
            Ok(OuId(s.to_string()))
        } else {
            Err(Invalid::field(
                "",
                "must be an organizational unit id (ou-, 4 to 32 of a-z 0-9, -, 8 to 32 of a-z 0-9)",
            ))
        }
    }

    /// Whether `s` is shaped as an OU id rather than anything else a list may hold.
    pub fn looks_like(s: &str) -> bool {
        s.starts_with("ou-")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OuId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an OU or account sits: the root (`r-…`) or an OU.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ParentId {
    Root(String),
    Unit(OuId),
}

impl ParentId {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s.strip_prefix("r-") {
            Some(rest) if lower_alnum(rest, 4, 32) => Ok(ParentId::Root(s.to_string())),
            _ => OuId::parse(s)
                .map(ParentId::Unit)
                .map_err(|_| Invalid::field("", "must be a root id (r-…) or an organizational unit id (ou-…)")),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            ParentId::Root(r) => r,
            ParentId::Unit(u) => u.as_str(),
        }
    }
}

/// A member account's state in Organizations. Only an active account is covered by grants:
/// AWS documents that a closed account can no longer be used to reach AWS services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberState {
    PendingActivation,
    Active,
    Suspended,
    PendingClosure,
    Closed,
}

impl MemberState {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::PendingActivation => "pending_activation",
            MemberState::Active => "active",
            MemberState::Suspended => "suspended",
            MemberState::PendingClosure => "pending_closure",
            MemberState::Closed => "closed",
        }
    }

    /// Reads the state as stored (`as_str`) or as Organizations spells it (`ACTIVE`,
    /// `PENDING_CLOSURE`...), in `State` or in the older `Status`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "pending_activation" => MemberState::PendingActivation,
            "active" => MemberState::Active,
            "suspended" => MemberState::Suspended,
            "pending_closure" => MemberState::PendingClosure,
            "closed" => MemberState::Closed,
            _ => return None,
        })
    }

    pub fn is_active(self) -> bool {
        self == MemberState::Active
    }
}

/// An organizational unit as discovered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgUnit {
    pub id: OuId,
    pub name: String,
    pub parent: ParentId,
}

/// A member account as discovered, and the broker account enabled for it, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgMember {
    pub aws_account_id: AwsAccountId,
    pub name: String,
    pub state: MemberState,
    pub parent: ParentId,
    /// The OUs above the account, from the one under the root down to its parent.
    pub ou_path: Vec<OuId>,
    pub account_id: Option<AccountId>,
}

/// What one discovery read: the root, every OU and every account with its direct parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    pub organization_id: OrganizationId,
    pub management_account_id: AwsAccountId,
    pub root_id: String,
    pub units: Vec<OrgUnit>,
    /// Each account with its direct parent (`ou_path` and `account_id` are filled by `tree`).
    pub accounts: Vec<(AwsAccountId, String, MemberState, ParentId)>,
}

/// A registered organization. Its ExternalId is sealed as an account's is: the member roles
/// trust the broker with the same one.
#[derive(Debug, Clone, PartialEq)]
pub struct Organization {
    pub id: OrganizationId,
    pub name: String,
    pub management_account_id: AwsAccountId,
    pub role_arn: RoleArn,
    pub sealed_external_id: Sealed,
    /// The role the StackSet deploys in every member (`TargetRoleName`).
    pub member_role_name: String,
    pub default_region: Region,
    /// Each sync enables newly discovered active accounts by itself.
    pub enable_new_accounts: bool,
    pub root_id: String,
    pub synced_at: OffsetDateTime,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl Organization {
    /// The role the broker assumes in `member`.
    pub fn member_role(&self, member: &AwsAccountId) -> RoleArn {
        RoleArn::parse(&format!(
            "arn:{}:iam::{member}:role/{}",
            self.role_arn.partition(),
            self.member_role_name
        ))
        .expect("an account id and a validated role name make a role ARN")
    }
}

/// Where a registered account sits in its organization, kept on the account by each sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub organization: OrganizationId,
    pub ou_path: Vec<OuId>,
    pub state: MemberState,
}

/// Why a tree cannot be built: an OU or account under a parent the discovery did not return
/// (a move during the discovery), or OUs that are each other's parents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the organization's tree is inconsistent: {0}")]
pub struct BrokenTree(pub String);

/// Each OU's path from the top: the OUs above it and itself.
fn unit_paths(root_id: &str, units: &[OrgUnit]) -> Result<HashMap<OuId, Vec<OuId>>, BrokenTree> {
    let parent: HashMap<&OuId, &ParentId> = units.iter().map(|u| (&u.id, &u.parent)).collect();
    let mut paths = HashMap::new();
    for unit in units {
        let mut path = vec![unit.id.clone()];
        let mut at = &unit.parent;
        let mut seen = HashSet::from([&unit.id]);
        loop {
            match at {
                ParentId::Root(r) if r == root_id => break,
                ParentId::Root(r) => return Err(BrokenTree(format!("{} is under another root, {r}", unit.id))),
                ParentId::Unit(u) => {
                    if !seen.insert(u) {
                        return Err(BrokenTree(format!("{} is its own ancestor", unit.id)));
                    }
                    path.push(u.clone());
                    at = parent
                        .get(u)
                        .ok_or_else(|| BrokenTree(format!("{} is under {u}, which was not listed", unit.id)))?;
                }
            }
        }
        path.reverse();
        paths.insert(unit.id.clone(), path);
    }
    Ok(paths)
}

/// The members of `found`, each with its OU path, and with the broker accounts `previous`
/// members were enabled as.
pub fn tree(found: &Discovered, previous: &[OrgMember]) -> Result<Vec<OrgMember>, BrokenTree> {
    let paths = unit_paths(&found.root_id, &found.units)?;
    let enabled: HashMap<&AwsAccountId, &AccountId> = previous
        .iter()
        .filter_map(|m| m.account_id.as_ref().map(|a| (&m.aws_account_id, a)))
        .collect();
    found
        .accounts
        .iter()
        .map(|(aws, name, state, parent)| {
            let ou_path = match parent {
                ParentId::Root(r) if *r == found.root_id => Vec::new(),
                ParentId::Root(r) => return Err(BrokenTree(format!("{aws} is under another root, {r}"))),
                ParentId::Unit(u) => paths
                    .get(u)
                    .cloned()
                    .ok_or_else(|| BrokenTree(format!("{aws} is under {u}, which was not listed")))?,
            };
            Ok(OrgMember {
                aws_account_id: aws.clone(),
                name: name.clone(),
                state: *state,
                parent: parent.clone(),
                ou_path,
                account_id: enabled.get(aws).map(|a| (*a).clone()),
            })
        })
        .collect()
}

/// What a sync found changed between two member lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberChanges {
    /// In the organization now, not before.
    pub discovered: Vec<AwsAccountId>,
    /// Active before, not now (closing, closed, suspended), or gone from the organization.
    pub closed: Vec<AwsAccountId>,
    /// Under other OUs than before.
    pub moved: Vec<AwsAccountId>,
}

pub fn changes(before: &[OrgMember], now: &[OrgMember]) -> MemberChanges {
    let old: HashMap<&AwsAccountId, &OrgMember> = before.iter().map(|m| (&m.aws_account_id, m)).collect();
    let new: HashMap<&AwsAccountId, &OrgMember> = now.iter().map(|m| (&m.aws_account_id, m)).collect();
    let mut c = MemberChanges::default();
    for m in now {
        match old.get(&m.aws_account_id) {
            None => c.discovered.push(m.aws_account_id.clone()),
            Some(o) => {
                if o.state.is_active() && !m.state.is_active() {
                    c.closed.push(m.aws_account_id.clone());
                }
                if o.ou_path != m.ou_path {
                    c.moved.push(m.aws_account_id.clone());
                }
            }
        }
    }
    for o in before {
        if !new.contains_key(&o.aws_account_id) && o.state.is_active() {
            c.closed.push(o.aws_account_id.clone());
        }
    }
    c
}

/// The broker accounts under any of `units` (nested OUs included): enabled, active members.
pub fn accounts_under(units: &[OuId], members: &[OrgMember]) -> Vec<AccountId> {
    let mut out: Vec<AccountId> = members
        .iter()
        .filter(|m| m.state.is_active() && m.ou_path.iter().any(|u| units.contains(u)))
        .filter_map(|m| m.account_id.clone())
        .collect();
    out.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ou(s: &str) -> OuId {
        OuId::parse(s).unwrap()
    }

    fn aws(s: &str) -> AwsAccountId {
        AwsAccountId::parse(s).unwrap()
    }

    const ROOT: &str = "r-ab12";
    const WORK: &str = "ou-ab12-11111111";
    const PROD: &str = "ou-ab12-22222222";
    const SAND: &str = "ou-ab12-33333333";

    fn found(accounts: Vec<(&str, &str, MemberState, &str)>) -> Discovered {
        Discovered {
            organization_id: OrganizationId::parse("o-a1b2c3d4e5").unwrap(),
            management_account_id: aws("220000000001"),
            root_id: ROOT.into(),
            units: vec![
                OrgUnit {
                    id: ou(PROD),
                    name: "Production".into(),
                    parent: ParentId::Unit(ou(WORK)),
                },
                OrgUnit {
                    id: ou(WORK),
                    name: "Workloads".into(),
                    parent: ParentId::Root(ROOT.into()),
                },
                OrgUnit {
                    id: ou(SAND),
                    name: "Sandbox".into(),
                    parent: ParentId::Root(ROOT.into()),
                },
            ],
            accounts: accounts
                .into_iter()
                .map(|(a, n, s, p)| (aws(a), n.to_string(), s, ParentId::parse(p).unwrap()))
                .collect(),
        }
    }

    #[test]
    fn ids_are_shaped_as_organizations_defines_them() {
        assert!(OrganizationId::parse("o-a1b2c3d4e5").is_ok());
        assert!(OrganizationId::parse("o-short").is_err());
        assert!(OrganizationId::parse("o-A1B2C3D4E5").is_err());
        assert!(OuId::parse("ou-ab12-11111111").is_ok());
        for bad in [
            "ou-ab1-11111111",
            "ou-ab12-1111111",
            "ou-ab12",
            "r-ab12",
            "ou-AB12-11111111",
        ] {
            assert!(OuId::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(ParentId::parse("r-ab12").unwrap(), ParentId::Root("r-ab12".into()));
        assert!(ParentId::parse("x-ab12").is_err());
        assert_eq!(MemberState::parse("PENDING_CLOSURE"), Some(MemberState::PendingClosure));
    }

    #[test]
    fn nested_ous_are_under_their_parents() {
        let members = tree(
            &found(vec![
                ("111111111111", "prod-1", MemberState::Active, PROD),
                ("222222222222", "shared", MemberState::Active, WORK),
                ("333333333333", "audit", MemberState::Active, ROOT),
            ]),
            &[],
        )
        .unwrap();
        assert_eq!(members[0].ou_path, vec![ou(WORK), ou(PROD)]);
        assert_eq!(members[1].ou_path, vec![ou(WORK)]);
        assert!(members[2].ou_path.is_empty());
    }

    #[test]
    fn a_cycle_or_an_unlisted_parent_is_refused() {
        let mut f = found(vec![("111111111111", "x", MemberState::Active, "ou-ab12-99999999")]);
        assert!(tree(&f, &[]).is_err());
        f.accounts.clear();
        f.units[1].parent = ParentId::Unit(ou(PROD));
        assert!(tree(&f, &[]).is_err());
    }

    #[test]
    fn only_enabled_active_accounts_under_the_unit_are_covered_nested_included() {
        let mut members = tree(
            &found(vec![
                ("111111111111", "prod-1", MemberState::Active, PROD),
                ("222222222222", "shared", MemberState::Active, WORK),
                ("333333333333", "sandbox", MemberState::Active, SAND),
                ("444444444444", "closing", MemberState::PendingClosure, PROD),
                ("555555555555", "not enabled", MemberState::Active, PROD),
            ]),
            &[],
        )
        .unwrap();
        let ids: Vec<AccountId> = (0..4).map(|_| AccountId::generate()).collect();
        for (m, id) in members.iter_mut().zip(&ids) {
            m.account_id = Some(id.clone());
        }
        let mut want = vec![ids[0].clone(), ids[1].clone()];
        want.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        assert_eq!(accounts_under(&[ou(WORK)], &members), want);
        assert_eq!(accounts_under(&[ou(PROD)], &members), vec![ids[0].clone()]);
        assert_eq!(accounts_under(&[ou(SAND)], &members), vec![ids[2].clone()]);
    }

    #[test]
    fn changes_name_new_closed_gone_and_moved_accounts() {
        let before = tree(
            &found(vec![
                ("111111111111", "prod-1", MemberState::Active, PROD),
                ("222222222222", "shared", MemberState::Active, WORK),
                ("333333333333", "gone", MemberState::Active, SAND),
            ]),
            &[],
        )
        .unwrap();
        let now = tree(
            &found(vec![
                ("111111111111", "prod-1", MemberState::Active, SAND),
                ("222222222222", "shared", MemberState::Suspended, WORK),
                ("444444444444", "new", MemberState::Active, PROD),
            ]),
            &before,
        )
        .unwrap();
        let c = changes(&before, &now);
        assert_eq!(c.discovered, vec![aws("444444444444")]);
        assert_eq!(c.moved, vec![aws("111111111111")]);
        assert_eq!(c.closed, vec![aws("222222222222"), aws("333333333333")]);
    }

    #[test]
    fn a_rediscovered_member_keeps_the_account_it_was_enabled_as() {
        let mut before = tree(&found(vec![("111111111111", "prod-1", MemberState::Active, PROD)]), &[]).unwrap();
        let id = AccountId::generate();
        before[0].account_id = Some(id.clone());
        let now = tree(
            &found(vec![("111111111111", "prod-1", MemberState::Active, SAND)]),
            &before,
        )
        .unwrap();
        assert_eq!(now[0].account_id, Some(id));
    }
}
