//! Test helpers for ihos (work in progress: see the project's issues).
