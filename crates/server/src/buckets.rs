//! Buckets: independent keyspaces, each its own store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use store::Store;

use memcache::sasl::Users;

/// The bucket of clients that do not authenticate.
pub const DEFAULT_BUCKET: &str = "default";

/// Every bucket's store, opened at start-up.
#[derive(Clone)]
pub struct Buckets {
    stores: Arc<BTreeMap<String, Store>>,
    users: Option<Arc<Users>>,
}

impl Buckets {
    /// Opens `DIR/default` and, with a users file, `DIR/buckets/USER` for
    /// every user, each with `template`'s settings (its `dir` is replaced).
    ///
    /// # Errors
    ///
    /// The first store that fails to open.
    pub fn open(
        dir: impl AsRef<Path>,
        template: &store::Config,
        users: Option<Users>,
    ) -> Result<Buckets, store::Error> {
        let dir = dir.as_ref();
        let mut stores = BTreeMap::new();
        let open = |path: PathBuf| {
            let mut config = template.clone();
            config.dir = path;
            Store::open(config)
        };
        stores.insert(DEFAULT_BUCKET.to_string(), open(dir.join(DEFAULT_BUCKET))?);
        if let Some(users) = &users {
            for name in users.names() {
                if name != DEFAULT_BUCKET {
                    stores.insert(name.to_string(), open(dir.join("buckets").join(name))?);
                }
            }
        }
        Ok(Buckets { stores: Arc::new(stores), users: users.map(Arc::new) })
    }

    /// The store of bucket `name`.
    pub fn get(&self, name: &str) -> Option<&Store> {
        self.stores.get(name)
    }

    /// The default bucket's store.
    pub fn default_store(&self) -> &Store {
        &self.stores[DEFAULT_BUCKET]
    }

    /// The SASL users, when authentication is configured.
    pub fn users(&self) -> Option<&Users> {
        self.users.as_deref()
    }

    /// Every bucket, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Store)> {
        self.stores.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Closes every store (final commit). Blocks.
    pub fn close(&self) {
        for store in self.stores.values() {
            store.close();
        }
    }
}
