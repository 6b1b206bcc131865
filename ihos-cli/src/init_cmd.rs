//! `ihos init`: discover the deployment from the load balancer and write a topology.

use std::path::PathBuf;

use ihos_core::{DiscoverOptions, LoadOptions, connect_addresses, discover, render_discovered};

use crate::cli::InitArgs;
use crate::drive::runtime;
use crate::exit::CliError;
use crate::output;

/// `ihos init`.
pub fn init(args: &InitArgs, ssh_config: Option<PathBuf>) -> Result<(), CliError> {
    let to_stdout = args.out.as_os_str() == "-";
    if !to_stdout && !args.force && args.out.exists() {
        return Err(CliError::Usage(format!(
            "{} exists: pass --force to replace it, or --out another file",
            args.out.display()
        )));
    }
    // Written into the topology, which reads a relative path from its own directory:
    // made absolute here.
    let ssh_config = match ssh_config {
        Some(p) if p.is_relative() => Some(
            std::env::current_dir()
                .map_err(|e| CliError::io(&p, "finding the current directory", e))?
                .join(p),
        ),
        other => other,
    };
    let mut load = LoadOptions::default();
    load.ssh_config = ssh_config.clone();
    let mut options = DiscoverOptions::new(&args.nginx_container, &args.upstream);
    options.config_in_container = args.config_in_container.clone();
    let rt = runtime()?;
    let lb = connect_addresses(std::slice::from_ref(&args.lb), args.user.as_deref(), &load)?
        .remove(&args.lb)
        .ok_or_else(|| {
            CliError::Usage(format!("--lb {}: no connection could be set up", args.lb))
        })?;
    // The backends' hosts are known once the upstream is read: connected on demand, each
    // once, a failure remembered with its reason (the LB's own host is the same one).
    type Made = Result<std::sync::Arc<dyn ihos_core::Transport>, String>;
    let hosts: std::sync::Mutex<std::collections::BTreeMap<String, Made>> =
        std::sync::Mutex::new(std::collections::BTreeMap::new());
    hosts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(args.lb.clone(), Ok(lb.clone()));
    let host_of = |address: &str| -> Made {
        let mut known = hosts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(made) = known.get(address) {
            return made.clone();
        }
        let made = connect_addresses(&[address.to_string()], args.user.as_deref(), &load)
            .map_err(|e| e.to_string())
            .and_then(|mut m| m.remove(address).ok_or_else(|| "no connection".to_string()));
        known.insert(address.to_string(), made.clone());
        made
    };
    let found = rt.block_on(discover(lb.as_ref(), &host_of, &options))?;
    let ssh_config = ssh_config.as_ref().map(|p| p.display().to_string());
    let text = render_discovered(
        &found,
        &args.lb,
        args.user.as_deref(),
        ssh_config.as_deref(),
    );
    for i in &found.instances {
        let state = if i.enabled {
            "in rotation"
        } else {
            "out of rotation"
        };
        output::message(&format!(
            "{}: {} ({state}){}",
            i.backend,
            i.container.as_deref().unwrap_or("container not found"),
            if i.todo.is_empty() {
                String::new()
            } else {
                format!(", {} TODO", i.todo.len())
            }
        ));
    }
    if to_stdout {
        return output::stdout(&text, &args.out);
    }
    // Written beside it and renamed: never a half-written topology.
    let mut tmp = args.out.clone().into_os_string();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, &text)
        .and_then(|()| std::fs::rename(&tmp, &args.out))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            CliError::io(&args.out, "writing the topology", e)
        })?;
    output::message(&format!(
        "wrote {}: check it, then `ihos -c {} validate --effective`",
        args.out.display(),
        args.out.display()
    ));
    Ok(())
}
