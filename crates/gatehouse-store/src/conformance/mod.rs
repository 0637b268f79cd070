//! The storage conformance suite: one set of behavioural tests that every backend runs
//! unchanged (after dex's `storage/conformance`).
//!
//! Each case is a public `async fn(Arc<dyn Store>)` that receives a fresh, empty store and
//! panics if the backend breaks a contract written on the traits. Time is injected (`now`
//! arguments around [`fixtures::T0`]); nothing sleeps. Concurrency cases race 16 tasks on a
//! multi-threaded runtime and check that exactly one wins.
//!
//! A backend runs the suite from one test file:
//!
//! ```ignore
//! // tests/conformance.rs of a backend crate (dev-dependency: gatehouse-store with the
//! // `conformance` feature).
//! gatehouse_store::conformance_suite!(async || {
//!     let dir = TempDir::new();
//!     let store = MyStore::open(&dir.path().join("db")).unwrap();
//!     gatehouse_store::conformance::Fixture::new(store).keeping(dir)
//! });
//! ```
//!
//! [`conformance_suite!`](crate::conformance_suite) expands to one `#[test]` per case, named
//! after the case (`consume_code_exactly_one_winner_under_concurrency`), each calling the
//! factory for its own store and running on its own multi-threaded runtime. [`run_all`]
//! runs every case in one test instead.
//!
//! Records that reference others (a grant's client, user and resource) are created after
//! what they reference, so a backend may enforce foreign keys.

pub mod admin;
pub mod audit;
pub mod clients;
pub mod codes;
pub mod environments;
pub mod fixtures;
pub mod grants;
pub mod interaction;
pub mod keys;
pub mod maintenance;
pub mod refresh;
pub mod resources;
pub mod users;

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

use crate::Store;

/// Imports shared by the case modules.
mod prelude {
    pub(crate) use std::sync::Arc;

    pub(crate) use super::fixtures::*;
    pub(crate) use crate::records::*;
    pub(crate) use crate::{Consumed, Redemption, Rotation, Store};
}

/// What a backend's factory returns: a fresh, empty store, plus anything that must live
/// exactly as long as the case (a temporary directory, a database to drop).
pub struct Fixture {
    store: Arc<dyn Store>,
    // Declared after `store`, so dropped after it: the store closes before its files go.
    _keep: Option<Box<dyn Any>>,
}

impl Fixture {
    /// A fixture around a store.
    pub fn new(store: impl Store + 'static) -> Self {
        Self {
            store: Arc::new(store),
            _keep: None,
        }
    }

    /// Keeps `guard` alive until the case is over and the store dropped.
    pub fn keeping(mut self, guard: impl Any) -> Self {
        self._keep = Some(Box::new(guard));
        self
    }

    /// The store under test.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }
}

impl From<Arc<dyn Store>> for Fixture {
    fn from(store: Arc<dyn Store>) -> Self {
        Self { store, _keep: None }
    }
}

/// Runs one case on its own multi-threaded runtime (4 workers) with the store built by
/// `fixture`. Panics if the case fails.
pub fn run_case<T, Fut, C, CaseFut>(name: &str, fixture: Fut, case: C)
where
    Fut: Future<Output = T>,
    T: Into<Fixture>,
    C: FnOnce(Arc<dyn Store>) -> CaseFut,
    CaseFut: Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("conformance case {name}: cannot start a runtime: {e}"));
    runtime.block_on(async move {
        let fixture: Fixture = fixture.await.into();
        case(fixture.store()).await;
        drop(fixture);
    });
}

/// Runs every case, each with a fresh store from `factory`, stopping at the first failure.
pub fn run_all<T, F>(factory: F)
where
    F: AsyncFn() -> T,
    T: Into<Fixture>,
{
    crate::__conformance_with_cases!(__conformance_run_all!(factory));
}

/// Expands to one `#[test]` per conformance case, each running the case against the store
/// built by `$factory` (an `async` closure returning a [`Fixture`], or an
/// `Arc<dyn Store>`).
///
/// ```ignore
/// gatehouse_store::conformance_suite!(async || Fixture::new(MyStore::new()));
/// ```
#[macro_export]
macro_rules! conformance_suite {
    ($factory:expr $(,)?) => {
        $crate::__conformance_with_cases!(__conformance_tests!($factory));
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    (($factory:expr) [$($module:ident :: $case:ident),* $(,)?]) => {
        $(
            #[test]
            fn $case() {
                $crate::conformance::run_case(
                    stringify!($case),
                    ($factory)(),
                    $crate::conformance::$module::$case,
                );
            }
        )*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_run_all {
    (($factory:ident) [$($module:ident :: $case:ident),* $(,)?]) => {
        $(
            eprintln!("conformance case {}", stringify!($case));
            $crate::conformance::run_case(
                stringify!($case),
                $factory(),
                $crate::conformance::$module::$case,
            );
        )*
    };
}

/// The list of cases, handed to `$callback` after its arguments. The one place a new case
/// is registered.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_with_cases {
    ($callback:ident ! ($($args:tt)*)) => {
        $crate::$callback!(($($args)*) [
            environments::create_environment_then_get_and_list_return_it,
            environments::create_environment_with_taken_id_conflicts,
            environments::list_environments_orders_by_creation_then_id,
            environments::update_environment_replaces_issuer_profile_and_settings_only,
            environments::generation_increases_after_environment_changes,
            environments::generation_increases_after_key_changes,
            environments::generation_increases_after_resource_changes,
            environments::generation_increases_after_client_changes_but_not_after_a_use,
            keys::insert_key_with_taken_kid_conflicts_even_in_another_environment,
            keys::list_keys_orders_by_activation_then_kid_within_environment,
            keys::list_keys_excludes_keys_removed_at_or_before_now,
            keys::retire_key_sets_retired_and_removed_times,
            resources::create_resource_then_get_and_list_scoped_by_environment,
            resources::create_resource_with_taken_uri_in_same_environment_conflicts,
            resources::create_resource_with_same_uri_in_another_environment_succeeds,
            resources::create_resource_with_taken_id_conflicts,
            resources::list_resources_orders_by_creation_then_id,
            resources::update_resource_replaces_fields_but_not_creation_time,
            resources::update_resource_to_a_taken_uri_conflicts,
            resources::delete_resource_removes_only_that_resource_in_its_environment,
            clients::create_client_stores_it_with_its_secrets,
            clients::create_client_with_taken_id_conflicts_even_in_another_environment,
            clients::create_client_stores_nothing_when_a_secret_fails,
            clients::list_clients_newest_first_within_environment,
            clients::add_client_secret_adds_to_an_existing_client_only,
            clients::set_client_disabled_toggles_and_reports_existence,
            clients::touch_client_records_last_use,
            clients::delete_client_removes_client_and_its_secrets,
            clients::client_lookups_with_another_environment_find_nothing,
            clients::record_registration_creates_then_counts_and_keeps_mutable_state,
            clients::save_client_metadata_replaces_only_metadata,
            clients::evict_unused_dynamic_clients_keeps_newest_and_spares_the_rest,
            clients::expire_client_secrets_spares_the_kept_one,
            users::create_user_then_get_by_id_and_email,
            users::create_user_with_taken_email_in_same_environment_conflicts,
            users::create_user_with_same_email_in_another_environment_succeeds,
            users::create_user_with_taken_id_conflicts,
            users::list_users_orders_by_email,
            users::update_user_replaces_name_password_and_disabled_only,
            users::user_lookups_with_another_environment_find_nothing,
            interaction::session_is_found_until_it_expires,
            interaction::get_session_with_consent_reads_the_sessions_users_consent,
            interaction::delete_session_removes_it_once,
            interaction::pending_is_found_until_it_expires,
            interaction::set_pending_user_records_who_logged_in,
            interaction::set_pending_user_fails_when_expired_gone_or_in_another_environment,
            interaction::take_pending_returns_it_exactly_once,
            interaction::take_pending_ignores_expired_and_other_environment,
            interaction::take_pending_exactly_one_winner_under_concurrency,
            interaction::list_sessions_returns_unexpired_sessions_of_the_user_newest_first,
            interaction::delete_user_sessions_removes_only_that_users_sessions,
            grants::upsert_consent_replaces_scope_and_keeps_granted_at,
            grants::list_consents_filters_by_user_and_client_ordered_by_granted_at,
            grants::revoke_consent_revokes_matching_grants_and_their_refresh_tokens,
            grants::revoke_consent_leaves_other_users_clients_and_resources_alone,
            grants::revoke_consent_of_missing_consent_returns_false,
            grants::create_grant_then_get_scoped_by_environment,
            grants::create_grant_with_code_stores_both,
            grants::create_grant_with_code_stores_neither_when_a_key_is_taken,
            grants::create_grant_with_code_of_another_grant_fails_and_stores_nothing,
            grants::revoke_grant_revokes_all_its_refresh_tokens,
            grants::revoke_grant_twice_keeps_first_time_and_reason,
            grants::revoke_grant_unknown_or_in_another_environment_returns_false,
            codes::consume_code_first_then_replayed,
            codes::consume_code_missing_for_unknown_code_or_other_environment,
            codes::consume_code_consumes_an_expired_code,
            codes::consume_code_exactly_one_winner_under_concurrency,
            codes::redeem_code_brings_the_grant_and_user_and_has_one_winner,
            refresh::create_refresh_then_get_scoped_by_environment,
            refresh::get_refresh_with_grant_returns_both_scoped_by_environment,
            refresh::get_refresh_with_grant_says_whether_the_user_is_active,
            refresh::rotate_refresh_rotates_live_token_and_stores_successor,
            refresh::rotate_refresh_within_grace_returns_same_sealed_successor_and_changes_nothing,
            refresh::rotate_refresh_reuse_after_grace_revokes_family,
            refresh::rotate_refresh_of_grandparent_within_grace_is_reuse,
            refresh::rotate_refresh_of_revoked_grant_is_revoked_and_changes_nothing,
            refresh::rotate_refresh_of_unknown_token_or_other_environment_is_missing,
            refresh::rotate_refresh_exactly_one_rotation_under_concurrency,
            refresh::rotate_refresh_declined_by_the_gate_changes_nothing,
            refresh::rotate_refresh_whose_successor_key_is_taken_fails_and_changes_nothing,
            refresh::rotate_refresh_reports_the_token_and_derives_the_successor,
            refresh::rotate_refresh_of_a_token_without_grant_is_missing_and_asks_no_gate,
            maintenance::revoke_jti_is_seen_only_in_its_environment,
            maintenance::set_meta_overwrites_previous_value,
            maintenance::gc_deletes_exactly_what_has_expired,
            maintenance::gc_wipes_sealed_successors_rotated_more_than_60_seconds_ago,
            maintenance::ping_succeeds,
            maintenance::claim_assertion_jti_first_use_wins_until_expiry,
            maintenance::claim_assertion_jti_exactly_one_winner_under_concurrency,
            audit::append_events_assigns_increasing_ids_in_order,
            audit::list_events_returns_newest_first_with_limit_and_after_id,
            audit::list_events_filters_by_correlation_client_outcome_and_event,
            audit::list_events_defaults_to_100_events,
            audit::list_events_is_scoped_by_environment,
            audit::list_events_filters_by_time_range,
            audit::list_events_filters_by_user_resource_and_error,
            audit::list_events_oldest_first_with_after_id_tails_without_skipping,
            audit::purge_events_deletes_only_older_events_of_that_environment,
            audit::initial_access_token_is_found_until_it_expires,
            admin::create_admin_key_then_find_and_list_it,
            admin::create_admin_key_with_taken_id_or_hash_conflicts,
            admin::find_admin_key_ignores_revoked_keys,
            admin::list_admin_keys_returns_every_key_oldest_first,
            admin::revoke_admin_key_twice_keeps_first_time,
            admin::touch_admin_key_records_last_use,
            admin::create_admin_user_then_get_by_id_and_email,
            admin::create_admin_user_with_taken_id_or_email_conflicts,
            admin::list_admin_users_orders_by_email,
            admin::update_admin_user_replaces_password_and_disabled_only,
            admin::admin_session_is_found_until_it_expires,
            admin::create_admin_session_with_taken_hash_conflicts,
            admin::delete_admin_session_removes_it_once,
            admin::delete_admin_sessions_of_removes_only_that_admins_sessions,
        ]);
    };
}
