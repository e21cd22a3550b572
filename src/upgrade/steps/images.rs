//! What the steps do for a version upgrade (a run that changes `image:` values): pull the
//! new images and keep the running ones under names xzup owns (preflight, before anything
//! stops), check each container runs the image ID its file names and that the web answers
//! (verify), tag the kept images back before the old stack starts again (rollback).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::compose::ComposeFile;
use crate::http;
use crate::images::{self, Reference, short_id};
use crate::journal::KeptImage;
use crate::roles::Role;
use crate::upgrade::context::Ctx;
use crate::upgrade::error::StepError;

/// Preflight, before anything stops: each new image pulled (or, with `--no-pull`, present),
/// then each image a service runs now kept as `<repo>:xzup-<run-id>`. A pull that fails
/// fails preflight with nothing changed. Returns a note for the step's line.
pub(super) fn prepare(
    ctx: &mut Ctx<'_>,
    previous: &ComposeFile,
    new: &ComposeFile,
) -> Result<String, StepError> {
    let changes = images::changes(previous, new);
    if changes.is_empty() {
        return Ok(String::new());
    }
    let mut notes = Vec::new();
    if ctx.run().settings.pull {
        for change in &changes {
            ctx.observer.waiting(&format!("pulling {}", change.to));
            let started = Instant::now();
            ctx.docker.pull_image(&change.to).map_err(|e| {
                StepError::failed(format!(
                    "the new image of `{}` cannot be pulled: {e}; nothing was stopped (check the tag, or pull it yourself and pass --no-pull)",
                    change.service
                ))
            })?;
            notes.push(format!(
                "pulled {} in {:.1}s",
                change.to,
                started.elapsed().as_secs_f64()
            ));
        }
    } else {
        let wanted: Vec<&str> = changes.iter().map(|c| c.to.as_str()).collect();
        let missing = ctx.docker.missing_images(&wanted)?;
        if !missing.is_empty() {
            return Err(StepError::failed(format!(
                "new image(s) not present locally: {} (--no-pull); nothing was stopped: pull them, or leave --no-pull out",
                missing.join(", ")
            )));
        }
    }
    let mut kept = ctx.run().kept_images.clone();
    let run_id = ctx.run().id.clone();
    for change in &changes {
        if kept.contains_key(&change.service) {
            continue; // a resumed preflight: kept already
        }
        let id = match ctx.run().images_before.get(&change.service) {
            Some(id) => Some(id.clone()),
            None => ctx.docker.image_id(&change.from)?,
        };
        let Some(id) = id else {
            ctx.warn(&format!(
                "`{}` runs no container and `{}` is not here: there is no image to keep for the way back",
                change.service, change.from
            ))?;
            continue;
        };
        let kept_as = images::kept_name(&change.from, &run_id);
        ctx.docker.tag(&id, &kept_as)?;
        notes.push(format!("kept {} as {kept_as}", short_id(&id)));
        kept.insert(
            change.service.clone(),
            KeptImage {
                reference: change.from.clone(),
                id,
                kept_as,
            },
        );
    }
    ctx.journal.set_kept_images(kept)?;
    Ok(format!("; {}", notes.join(", ")))
}

/// Verify: each service of `new` runs the image ID its reference names now. Returns the
/// services checked.
pub(super) fn check_running(ctx: &Ctx<'_>, new: &ComposeFile) -> Result<Vec<String>, StepError> {
    let project = ctx.run().project.clone().unwrap_or_default();
    let containers = ctx.docker.project_containers(&project)?;
    let mut wrong = Vec::new();
    let mut checked = Vec::new();
    for (service, reference) in new.images() {
        let Some(c) = containers
            .iter()
            .find(|c| c.service.as_deref() == Some(&service))
        else {
            continue;
        };
        let Some(expected) = ctx.docker.image_id(&reference)? else {
            wrong.push(format!(
                "`{reference}` of `{service}` is not on the engine any more"
            ));
            continue;
        };
        if c.image_id != expected {
            wrong.push(format!(
                "`{service}` runs image {}, not {} (`{reference}`)",
                short_id(&c.image_id),
                short_id(&expected)
            ));
        }
        checked.push(service);
    }
    if !wrong.is_empty() {
        return Err(StepError::failed(wrong.join("; ")));
    }
    Ok(checked)
}

/// Verify: the web answers HTTP on each port it publishes, within `timeout` (its start-up
/// migrations may take a while). `None` when there is no web or it publishes no port.
pub(super) fn web_answers(ctx: &Ctx<'_>, timeout: Duration) -> Result<Option<String>, StepError> {
    let Some(web) = ctx.roles.service(Role::Web) else {
        return Ok(None);
    };
    let project = ctx.run().project.clone().unwrap_or_default();
    let containers = ctx.docker.project_containers(&project)?;
    let Some(c) = containers
        .iter()
        .find(|c| c.service.as_deref() == Some(web))
    else {
        return Ok(None);
    };
    let ports: Vec<u16> = ctx
        .docker
        .published_ports(&c.name)?
        .into_iter()
        .map(|(_, host)| host)
        .collect();
    if ports.is_empty() {
        return Ok(None);
    }
    let deadline = Instant::now() + timeout;
    for port in &ports {
        loop {
            match http::get(*port, "/", Duration::from_secs(5)) {
                Ok(_) => break,
                Err(e) if Instant::now() >= deadline => {
                    return Err(StepError::failed(format!(
                        "the web `{web}` does not answer on port {port}: {e}"
                    )));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(250)),
            }
            if (ctx.stop_requested)() {
                return Err(StepError::failed("interrupted"));
            }
        }
    }
    let list: Vec<String> = ports.iter().map(u16::to_string).collect();
    Ok(Some(format!("the web answers on port {}", list.join(", "))))
}

/// Rollback, before the old stack starts: each kept image tagged back under the
/// reference the old file names, so `up` runs the exact image of before whatever was
/// tagged or pruned meanwhile. Returns a note.
pub(super) fn tag_back(ctx: &mut Ctx<'_>) -> Result<String, StepError> {
    let kept: BTreeMap<String, KeptImage> = ctx.run().kept_images.clone();
    let mut notes = Vec::new();
    for (service, k) in &kept {
        let source = match ctx.docker.image_info(&k.kept_as)? {
            Some(info) if info.id == k.id => k.kept_as.clone(),
            _ => match ctx.docker.image_info(&k.id)? {
                Some(_) => k.id.clone(),
                None => {
                    return Err(StepError::failed(format!(
                        "the image `{service}` ran before ({}, kept as {}) is gone from the engine",
                        short_id(&k.id),
                        k.kept_as
                    )));
                }
            },
        };
        let pinned_by_digest = Reference::parse(&k.reference).is_ok_and(|r| r.digest.is_some());
        if pinned_by_digest {
            continue; // a digest names that exact image already
        }
        if ctx.docker.image_id(&k.reference)?.as_deref() != Some(k.id.as_str()) {
            ctx.docker.tag(&source, &k.reference)?;
            notes.push(format!("{} is {} again", k.reference, short_id(&k.id)));
        }
    }
    Ok(if notes.is_empty() {
        String::new()
    } else {
        format!("; {}", notes.join(", "))
    })
}

/// Rollback check: each service with a kept image runs it again.
pub(super) fn check_kept(ctx: &Ctx<'_>) -> Result<(), StepError> {
    let project = ctx.run().project.clone().unwrap_or_default();
    let containers = ctx.docker.project_containers(&project)?;
    for (service, k) in &ctx.run().kept_images {
        if let Some(c) = containers
            .iter()
            .find(|c| c.service.as_deref() == Some(service))
            && c.image_id != k.id
        {
            return Err(StepError::failed(format!(
                "`{service}` runs image {}, not the {} it ran before the upgrade",
                short_id(&c.image_id),
                short_id(&k.id)
            )));
        }
    }
    Ok(())
}
