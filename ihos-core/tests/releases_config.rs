//! `policy.keep_releases` in the topology: 3 when unset, and a number that cannot work
//! refused with its key and its line.

mod one_instance;

use one_instance::{assert_invalid, assert_syntax, load};

#[test]
fn keep_releases_defaults_to_three_and_takes_a_number() {
    assert_eq!(load("").unwrap().policy.keep_releases, 3);
    let t = load("[policy]\nkeep_releases = 10\n").unwrap();
    assert_eq!(t.policy.keep_releases, 10);
    assert_eq!(
        load("[policy]\nkeep_releases = 1\n")
            .unwrap()
            .policy
            .keep_releases,
        1
    );
    assert_eq!(
        load("[policy]\nkeep_releases = 50\n")
            .unwrap()
            .policy
            .keep_releases,
        50
    );
}

#[test]
fn a_number_of_releases_that_cannot_work_names_its_key() {
    assert_invalid(
        "[policy]\nkeep_releases = 0\n",
        "policy.keep_releases",
        "between 1",
    );
    assert_invalid(
        "[policy]\nkeep_releases = 51\n",
        "policy.keep_releases",
        "50",
    );
    // Not a count at all: the file's line and column, and what was expected.
    assert_syntax(
        "[policy]\nkeep_releases = -1\n",
        "ihos.toml:22:17: invalid value: integer `-1`",
    );
    assert_syntax(
        "[policy]\nkeep_releases = \"three\"\n",
        "ihos.toml:22:17: invalid type: string",
    );
    assert_syntax(
        "[policy]\nkeep_releases = 1e9\n",
        "ihos.toml:22:17: invalid type: floating point",
    );
}
