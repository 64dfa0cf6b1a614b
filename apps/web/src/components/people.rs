//! Who is online: a column on a desktop, in the drawer on a phone. Each person with their face,
//! so two people of the same name are told apart.

use super::face;
use crate::dom::{self, El};
use client::ChatState;
use protocol::Member;
use reactive_graph::prelude::*;
use reactive_graph::signal::RwSignal;

pub(super) fn people(state: RwSignal<ChatState>) -> El {
    let names = El::new("ul");
    {
        let names = names.0.clone();
        let mut shown: Option<(Vec<Member>, String)> = None;
        dom::watch(move || {
            let changed = state.with(|s| {
                shown
                    .as_ref()
                    .is_none_or(|(online, me)| *online != s.online || *me != s.me.user_id)
            });
            if !changed {
                return;
            }
            let now = state.with_untracked(|s| (s.online.clone(), s.me.user_id.clone()));
            names.set_text_content(None);
            for member in &now.0 {
                let mut li = El::new("li")
                    .push(face(&member.user_id, &member.name))
                    .push(El::with_class("span", "name").text(&member.name));
                if member.user_id == now.1 {
                    li = li.push(El::with_class("span", "muted").text("(you)"));
                }
                let _ = names.append_child(&li.into_node());
            }
            shown = Some(now);
        });
    }
    El::with_class("aside", "people")
        .attr("aria-label", "People online")
        .push(El::new("h2").bind_text(move || format!("{} online", state.with(|s| s.online.len()))))
        .push(names)
}
