//! The pure decisions of a distribution: wait for the product, wait for a free task slot,
//! create the job (once), find a job whose creation answer was lost, follow it to its end.
//!
//! No I/O happens here.

use crate::crd::distribution::JobRecordPolicy;
use iot_platform::model::{JOB_COMPLETED, JOB_INITIALIZING, JOB_INTERRUPTED, JOB_RUNNING};

/// A job's state as the resource reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// No job yet.
    Pending,
    /// The platform is preparing the job.
    Initializing,
    /// The job runs.
    Running,
    /// The job finished.
    Completed,
    /// The job was interrupted.
    Failed,
}

impl JobState {
    /// From the platform's `Status`.
    #[must_use]
    pub fn from_platform(status: i32) -> Self {
        match status {
            JOB_INITIALIZING => Self::Initializing,
            JOB_RUNNING => Self::Running,
            JOB_COMPLETED => Self::Completed,
            JOB_INTERRUPTED => Self::Failed,
            _ => Self::Running,
        }
    }

    /// The word shown in status.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Initializing => "Initializing",
            Self::Running => "Running",
            Self::Completed => "Completed",
            Self::Failed => "Failed",
        }
    }

    /// Parses the word shown in status.
    #[must_use]
    pub fn parse(word: &str) -> Option<Self> {
        [Self::Pending, Self::Initializing, Self::Running, Self::Completed, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == word)
    }

    /// Whether the job ended.
    #[must_use]
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }
}

/// What the reconciler knows before deciding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// The job id recorded in status.
    pub job_id: Option<String>,
    /// The state recorded in status.
    pub recorded_state: Option<JobState>,
    /// Whether a create was started (its result possibly lost).
    pub create_started: bool,
    /// A job of this resource found on the platform after a lost create.
    pub found_job: Option<String>,
    /// Distribution tasks the account has (when counted).
    pub account_jobs: Option<usize>,
    /// The account's maximum.
    pub max_jobs: usize,
    /// Distribution tasks other ProductDistributions of this namespace hold in the account.
    pub namespace_jobs: usize,
    /// How many one namespace may hold (the account's `distributionTasksPerNamespace`).
    pub max_namespace_jobs: usize,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The job ended and was recorded: nothing to do.
    Done,
    /// Read the job's state.
    Poll(String),
    /// Record the job found after a lost create, then poll it.
    Adopt(String),
    /// Look for a job created by an earlier attempt whose answer was lost.
    LookForLostJob,
    /// Count the account's tasks before creating.
    CountJobs,
    /// The account has no free task: wait.
    WaitForQuota {
        /// Tasks the account has.
        jobs: usize,
    },
    /// This namespace holds as many of the account's tasks as it may: wait.
    WaitForNamespaceQuota {
        /// Tasks the namespace holds.
        jobs: usize,
    },
    /// Create the job.
    Create,
}

/// Decides the next step.
#[must_use]
pub fn decide(known: &Known) -> Decision {
    if let Some(job) = &known.job_id {
        return match known.recorded_state {
            Some(state) if state.is_terminal() => Decision::Done,
            _ => Decision::Poll(job.clone()),
        };
    }
    if known.create_started {
        match &known.found_job {
            Some(job) => return Decision::Adopt(job.clone()),
            None if known.account_jobs.is_none() => return Decision::LookForLostJob,
            None => {}
        }
    }
    if known.namespace_jobs >= known.max_namespace_jobs {
        return Decision::WaitForNamespaceQuota { jobs: known.namespace_jobs };
    }
    match known.account_jobs {
        None => Decision::CountJobs,
        Some(jobs) if jobs >= known.max_jobs => Decision::WaitForQuota { jobs },
        Some(_) => Decision::Create,
    }
}

/// Whether the platform's record of the job should be deleted now: the job ended, its
/// outcome is recorded, the policy says so and it was not deleted yet.
#[must_use]
pub fn delete_record_now(policy: JobRecordPolicy, recorded_state: Option<JobState>, deleted: bool) -> bool {
    policy == JobRecordPolicy::DeleteWhenDone && recorded_state.is_some_and(JobState::is_terminal) && !deleted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Known {
        Known {
            job_id: None,
            recorded_state: None,
            create_started: false,
            found_job: None,
            account_jobs: None,
            max_jobs: 10,
            namespace_jobs: 0,
            max_namespace_jobs: 3,
        }
    }

    #[test]
    fn a_new_distribution_counts_the_accounts_tasks_then_creates() {
        assert_eq!(decide(&known()), Decision::CountJobs);
        assert_eq!(decide(&Known { account_jobs: Some(9), ..known() }), Decision::Create);
    }

    #[test]
    fn the_eleventh_task_waits() {
        assert_eq!(decide(&Known { account_jobs: Some(10), ..known() }), Decision::WaitForQuota { jobs: 10 });
    }

    #[test]
    fn a_namespace_holding_its_share_of_the_accounts_tasks_waits_before_counting_them() {
        let full = Known { namespace_jobs: 3, ..known() };
        assert_eq!(decide(&full), Decision::WaitForNamespaceQuota { jobs: 3 });
        assert_eq!(decide(&Known { namespace_jobs: 2, ..known() }), Decision::CountJobs);
        // A job already made is followed whatever the namespace holds.
        let running = Known { job_id: Some("j".into()), recorded_state: Some(JobState::Running), ..full };
        assert_eq!(decide(&running), Decision::Poll("j".into()));
    }

    #[test]
    fn a_recorded_job_is_polled_until_it_ends_and_then_left_alone() {
        let running = Known { job_id: Some("j".into()), recorded_state: Some(JobState::Running), ..known() };
        assert_eq!(decide(&running), Decision::Poll("j".into()));
        let done = Known { recorded_state: Some(JobState::Completed), ..running.clone() };
        assert_eq!(decide(&done), Decision::Done);
        let failed = Known { recorded_state: Some(JobState::Failed), ..running };
        assert_eq!(decide(&failed), Decision::Done);
    }

    #[test]
    fn after_a_lost_create_the_job_is_looked_for_before_creating_again() {
        let started = Known { create_started: true, ..known() };
        assert_eq!(decide(&started), Decision::LookForLostJob);
        assert_eq!(
            decide(&Known { found_job: Some("j".into()), ..started.clone() }),
            Decision::Adopt("j".into())
        );
        assert_eq!(decide(&Known { account_jobs: Some(3), ..started }), Decision::Create);
    }

    #[test]
    fn platform_statuses_map_to_states() {
        assert_eq!(JobState::from_platform(0), JobState::Initializing);
        assert_eq!(JobState::from_platform(2), JobState::Completed);
        assert_eq!(JobState::from_platform(3), JobState::Failed);
        assert_eq!(JobState::parse("Completed"), Some(JobState::Completed));
    }

    #[test]
    fn a_finished_jobs_record_is_deleted_once_and_only_under_delete_when_done() {
        use JobRecordPolicy::{DeleteWhenDone, Keep};
        assert!(delete_record_now(DeleteWhenDone, Some(JobState::Completed), false));
        assert!(delete_record_now(DeleteWhenDone, Some(JobState::Failed), false));
        assert!(!delete_record_now(DeleteWhenDone, Some(JobState::Completed), true), "only once");
        assert!(!delete_record_now(DeleteWhenDone, Some(JobState::Running), false), "not before the end");
        assert!(!delete_record_now(DeleteWhenDone, None, false));
        assert!(!delete_record_now(Keep, Some(JobState::Completed), false));
    }
}
