//! A throwaway PKI for TLS tests: a CA, a leaf signed by it (rustls refuses a self-signed CA:TRUE
//! leaf), and an unrelated CA, written as PEM files.

pub struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A leaf for `localhost` only.
    pub fn new() -> Pki {
        Pki::for_names(&["localhost"])
    }

    /// A leaf for `names` (host names, or IP addresses such as `127.0.0.1`).
    pub fn for_names(names: &[&str]) -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_key = KeyPair::generate().expect("key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "querygate test CA");
        let ca_cert = ca.self_signed(&ca_key).expect("ca");
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let leaf_key = KeyPair::generate().expect("key");
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        let leaf = CertificateParams::new(names).expect("params");
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).expect("leaf");
        let other_key = KeyPair::generate().expect("key");
        let mut other = CertificateParams::new(Vec::<String>::new()).expect("params");
        other.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        other
            .distinguished_name
            .push(DnType::CommonName, "some other CA");
        let other_cert = other.self_signed(&other_key).expect("other ca");
        for (name, pem) in [
            ("ca.pem", ca_cert.pem()),
            ("other-ca.pem", other_cert.pem()),
            ("server.crt", leaf_cert.pem()),
            ("server.key", leaf_key.serialize_pem()),
        ] {
            std::fs::write(dir.path().join(name), pem).expect("write");
        }
        Pki { dir }
    }

    /// One of `ca.pem`, `other-ca.pem`, `server.crt`, `server.key`.
    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}
