//! Tag lists, following `Link` pagination.

use reqwest::header::HeaderMap;

use super::transport::resolve_url;
use super::{Client, RegistryError, Violation};
use crate::oci::MAX_MANIFEST_BYTES;
use crate::reference::ImageRef;

/// Most pages of a tag list followed.
const MAX_TAG_PAGES: usize = 10_000;

/// The `rel="next"` target of a `Link` header (RFC 8288), if any.
pub(super) fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|link| {
        let (target, params) = link.trim().strip_prefix('<')?.split_once('>')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim();
            let Some((k, v)) = p.split_once('=') else {
                return false;
            };
            k.trim().eq_ignore_ascii_case("rel")
                && v.trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
        });
        // Registries that send a single link without `rel` mean the next page.
        (is_next || !params.contains("rel")).then(|| target.to_string())
    })
}

impl Client {
    /// Lists every tag of the repository, following `Link` pagination; a repository that
    /// does not exist has none.
    pub async fn list_tags(&self, r: &ImageRef) -> Result<Vec<String>, RegistryError> {
        Ok(self.list_tags_paged(r, 1000).await?.unwrap_or_default())
    }

    /// [`Client::list_tags`] asking for `page` tags per request; `None` when the repository
    /// does not exist (or stopped existing between two pages).
    pub async fn list_tags_paged(
        &self,
        r: &ImageRef,
        page: usize,
    ) -> Result<Option<Vec<String>>, RegistryError> {
        let url = self.repo_url(r, &format!("tags/list?n={page}"));
        self.paged_names(r, url, "tags").await
    }

    /// Every repository of the registry `r` is on (`/v2/_catalog`), following `Link`
    /// pagination, `page` names per request.
    pub async fn catalog(&self, r: &ImageRef, page: usize) -> Result<Vec<String>, RegistryError> {
        let url = format!("{}/v2/_catalog?n={page}", self.base_url(r));
        match self.paged_names(r, url.clone(), "repositories").await? {
            Some(names) => Ok(names),
            None => Err(RegistryError::Status {
                url,
                status: 404,
                message: " (the registry does not list its repositories)".into(),
            }),
        }
    }

    /// Reads a paged list of names (`{"tags": […]}`, `{"repositories": […]}`); `None` when
    /// a page is not found.
    async fn paged_names(
        &self,
        r: &ImageRef,
        first: String,
        field: &'static str,
    ) -> Result<Option<Vec<String>>, RegistryError> {
        let mut tags = Vec::new();
        let mut url = first;
        for _ in 0..MAX_TAG_PAGES {
            let Some(resp) = self.get_found(r, &url, HeaderMap::new()).await? else {
                return Ok(None);
            };
            let next = resp
                .headers()
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(next_link);
            let body = self.read_small(resp, MAX_MANIFEST_BYTES, &url).await?;
            let mut page: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(&body).map_err(|e| RegistryError::Protocol {
                    url: url.clone(),
                    violation: Violation::TagList(e),
                })?;
            let names: Vec<String> = match page.remove(field) {
                None | Some(serde_json::Value::Null) => Vec::new(),
                Some(v) => serde_json::from_value(v).map_err(|e| RegistryError::Protocol {
                    url: url.clone(),
                    violation: Violation::TagList(e),
                })?,
            };
            tags.extend(names);
            match next {
                Some(n) => {
                    url = resolve_url(&url, &n).map_err(|violation| RegistryError::Protocol {
                        url: url.clone(),
                        violation,
                    })?
                }
                None => return Ok(Some(tags)),
            }
        }
        Err(RegistryError::Protocol {
            url,
            violation: Violation::TooManyPages(MAX_TAG_PAGES),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers() {
        assert_eq!(
            next_link(r#"</v2/app/tags/list?n=2&last=b>; rel="next""#).as_deref(),
            Some("/v2/app/tags/list?n=2&last=b")
        );
        assert_eq!(
            next_link(r#"<https://a/prev>; rel="prev", <https://a/next>; rel="next""#).as_deref(),
            Some("https://a/next")
        );
        assert_eq!(next_link("</x>").as_deref(), Some("/x"));
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
        assert_eq!(next_link(""), None);
        assert_eq!(next_link("<unterminated; rel=next"), None);
    }
}
