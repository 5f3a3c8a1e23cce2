//! The banner `plexus up` prints once the network runs: where everything is, how to point
//! other commands at it, and how to try it.

use std::path::Path;

use super::{OWNER, UpFile};
use crate::devnet;
use crate::models::MODELS_ENV;

/// The banner: where everything is, how to point other commands at it, how to try it.
pub(super) fn welcome(up: &UpFile, dir: &Path, models: &Path, nodes: usize) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    // Writing into a String cannot fail.
    // The miners load their models for a few seconds more: the status below says when
    // the gateway first answers.
    let _ = writeln!(
        s,
        "Plexus is starting: the gateway answers once a miner has loaded its model \
         (\"ready\" below)."
    );
    let _ = writeln!(s, "  chain RPC   {}", up.rpc_url);
    let _ = writeln!(s, "  gateway     {}  (OpenAI-compatible)", up.gateway_url);
    if let Some(url) = &up.explorer_url {
        let _ = writeln!(s, "  explorer    {url}  (open it in a browser)");
    }
    let node_log = if nodes == 1 {
        "node-0/node.log"
    } else {
        "node-*/node.log"
    };
    let _ = writeln!(
        s,
        "  processes   {} (logs in {}, the nodes' in {})",
        up.processes.len(),
        dir.join("logs").display(),
        dir.join(node_log).display()
    );
    let _ = writeln!(s);
    // Other commands find the network (its config.toml names the RPC, its wallets) and
    // the models already fetched only through these.
    let password = match std::env::var(crate::wallet::PASSWORD_ENV) {
        Ok(p) if p != devnet::DEVNET_PASSWORD => String::new(),
        _ => format!(
            " {}={}",
            crate::wallet::PASSWORD_ENV,
            devnet::DEVNET_PASSWORD
        ),
    };
    let _ = writeln!(s, "Use it from another shell:");
    let _ = writeln!(
        s,
        "  export {}={}{password} {MODELS_ENV}={}",
        crate::home::HOME_ENV,
        shell_quote(dir),
        shell_quote(models)
    );
    if password.is_empty() {
        let _ = writeln!(
            s,
            "  export {}=<the one set for this plexus up>",
            crate::wallet::PASSWORD_ENV
        );
    }
    let _ = writeln!(s, "  plexus chain status; plexus balance --wallet {OWNER}");
    let _ = writeln!(s);
    let _ = writeln!(s, "Try it:");
    let _ = writeln!(
        s,
        "  curl {}/chat/completions -H 'Content-Type: application/json' \\\n    \
         -d '{{\"model\": \"smollm2-135m-instruct\", \"messages\": [{{\"role\": \"user\", \"content\": \"What is the capital of France?\"}}], \"max_tokens\": 32}}'",
        up.gateway_url
    );
    let _ = writeln!(
        s,
        "  python3 -c \"from openai import OpenAI; c = OpenAI(base_url='{}', api_key='none'); \
         print(c.chat.completions.create(model='smollm2-135m-instruct', \
         messages=[{{'role': 'user', 'content': 'Hi!'}}]).choices[0].message.content)\"",
        up.gateway_url
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "Ctrl-C stops everything.");
    s
}

/// `path` as one shell word: as it is when that is safe, else in single quotes.
pub(super) fn shell_quote(path: &Path) -> String {
    let text = path.to_string_lossy();
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+:@,%=".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}
