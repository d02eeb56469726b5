//! The files a private ClickHouse server (Debian's 18.16) starts from, for
//! the chaos test's single server and the bed's replicas.

use std::path::Path;

/// Where and how one server listens, and what else its config holds.
pub struct ServerFiles<'a> {
    pub listen: &'a str,
    pub http_port: u16,
    pub tcp_port: u16,
    /// Further `config.xml` elements (a cluster's ZooKeeper, remote servers, macros).
    pub extra: &'a str,
    /// Addresses the `default` user may connect from (`127.0.0.1`, `::/0`).
    pub network: &'a str,
    pub max_memory_usage: u64,
}

impl ServerFiles<'_> {
    /// Writes `config.xml` and `users.xml` into `dir`, and its data folders.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        for sub in ["data", "tmp", "user_files"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        let d = dir.display();
        let Self { listen, http_port, tcp_port, extra, network, max_memory_usage } = self;
        std::fs::write(
            dir.join("config.xml"),
            format!(
                "<?xml version=\"1.0\"?>\n<yandex>\n\
                 <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/server.err.log</errorlog><console>0</console></logger>\n\
                 <listen_host>{listen}</listen_host>\n<http_port>{http_port}</http_port>\n<tcp_port>{tcp_port}</tcp_port>\n\
                 <path>{d}/data/</path>\n<tmp_path>{d}/tmp/</tmp_path>\n<user_files_path>{d}/user_files/</user_files_path>\n\
                 <users_config>{d}/users.xml</users_config>\n\
                 <default_profile>default</default_profile>\n<default_database>default</default_database>\n\
                 <mark_cache_size>268435456</mark_cache_size>\n{extra}</yandex>\n"
            ),
        )?;
        std::fs::write(
            dir.join("users.xml"),
            format!(
                "<?xml version=\"1.0\"?>\n<yandex>\n\
                 <profiles><default><max_memory_usage>{max_memory_usage}</max_memory_usage></default></profiles>\n\
                 <users><default><password></password><networks><ip>{network}</ip></networks>\
                 <profile>default</profile><quota>default</quota></default></users>\n\
                 <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>\
                 <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>\n\
                 </yandex>\n"
            ),
        )?;
        Ok(())
    }
}
