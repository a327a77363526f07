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
    /// Lists every tag of the repository, following `Link` pagination.
    pub async fn list_tags(&self, r: &ImageRef) -> Result<Vec<String>, RegistryError> {
        self.list_tags_paged(r, 1000).await
    }

    /// [`Client::list_tags`] asking for `page` tags per request.
    pub async fn list_tags_paged(
        &self,
        r: &ImageRef,
        page: usize,
    ) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct TagList {
            tags: Option<Vec<String>>,
        }
        let mut tags = Vec::new();
        let mut url = self.repo_url(r, &format!("tags/list?n={page}"));
        for _ in 0..MAX_TAG_PAGES {
            let Some(resp) = self.get_found(r, &url, HeaderMap::new()).await? else {
                return Ok(tags);
            };
            let next = resp
                .headers()
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(next_link);
            let body = self.read_small(resp, MAX_MANIFEST_BYTES, &url).await?;
            let page: TagList =
                serde_json::from_slice(&body).map_err(|e| RegistryError::Protocol {
                    url: url.clone(),
                    violation: Violation::TagList(e),
                })?;
            tags.extend(page.tags.unwrap_or_default());
            match next {
                Some(n) => {
                    url = resolve_url(&url, &n).map_err(|violation| RegistryError::Protocol {
                        url: url.clone(),
                        violation,
                    })?
                }
                None => return Ok(tags),
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
