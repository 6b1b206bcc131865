//! ihos rollout engine (work in progress: see the project's issues).
