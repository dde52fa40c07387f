//! Block uploads: each part a Put Block carrying its MD5, the upload a Put Block List; blocks
//! staged by an upload that was cut short are found again in the uncommitted block list; and
//! blobs Azure fills itself from a URL (Put Blob From URL, Put Block From URL).

use async_trait::async_trait;
use azure_core::http::{Method, RequestContent};
use azure_storage_blob::models::{
    BlockBlobClientCommitBlockListOptions, BlockBlobClientStageBlockOptions, BlockListType,
    BlockLookupList,
};
use bytes::Bytes;
use futures::future::BoxFuture;

use super::errors::map;
use super::store::{AzureStore, MIB, header};
use crate::backend::{Error, MultipartUpload, PartId, PutResult, Result, StoredPart};

/// The raw id of part `number` of upload `upload` whose bytes have MD5 `md5` (32 hex digits):
/// every id of a blob has the same length, and a reopened upload knows each block's MD5 from
/// its id, so a block holding the very bytes of a part is not sent again.
pub(super) fn block_id(upload: &str, number: u32, md5: &str) -> String {
    format!("{upload}-{number:05}-{md5}")
}

/// (upload, part number, MD5 hex) of a block id ferry wrote.
fn parse_block_id(id: &[u8]) -> Option<(&str, u32, &str)> {
    let s = std::str::from_utf8(id).ok()?;
    let (rest, md5) = s.rsplit_once('-')?;
    let (upload, n) = rest.rsplit_once('-')?;
    (md5.len() == 32).then_some(())?;
    Some((upload, n.parse().ok()?, md5))
}

/// The MD5 of blocks Azure fills from a URL (ferry never sees their bytes).
const UNSEEN: &str = "00000000000000000000000000000000";

impl AzureStore {
    /// A new block upload of `key`, under a fresh random id.
    pub(super) fn start_blocks(&self, key: &str) -> Result<Box<dyn MultipartUpload>> {
        self.blob_url(key)?;
        Ok(Box::new(BlockUpload {
            store: self.clone(),
            key: key.to_owned(),
            id: format!("{:016x}", fastrand::u64(..)),
            content_md5: None,
        }))
    }

    /// How many uncommitted blocks `key` holds (what interrupted block uploads left; the
    /// service drops them at the blob's next commit, or after 7 days).
    pub async fn uncommitted_blocks(&self, key: &str) -> Result<usize> {
        let path = self.path(key);
        self.blob_url(key)?;
        match self
            .block_client(key)
            .get_block_list(BlockListType::Uncommitted, None)
            .await
        {
            Ok(r) => Ok(r
                .into_model()
                .map_err(|e| map(&path, e))?
                .uncommitted_blocks
                .map_or(0, |b| b.len())),
            Err(e) => {
                let e = map(&path, e);
                if e.is_not_found() { Ok(0) } else { Err(e) }
            }
        }
    }

    /// Writes `key` from a URL the service reads itself: one Put Blob From URL up to 4000 MiB,
    /// else Put Block From URL per 1000 MiB range and a commit. A service that cannot (501)
    /// is `NotSupported`, so the caller streams.
    pub(super) async fn put_from_url(
        &self,
        key: &str,
        source: &str,
        size: u64,
    ) -> Result<PutResult> {
        let path = self.path(key);
        let url = self.blob_url(key)?;
        if size <= 4000 * MIB {
            let resp = self
                .raw(
                    Method::Put,
                    url,
                    &[
                        ("x-ms-blob-type", "BlockBlob".to_owned()),
                        ("x-ms-copy-source", source.to_owned()),
                    ],
                    Bytes::new(),
                    &path,
                )
                .await?;
            return Ok(PutResult {
                e_tag: header(&resp, "etag").map(|e| e.trim_matches('"').to_owned()),
                version: header(&resp, "x-ms-version-id"),
            });
        }
        let upload = format!("{:016x}", fastrand::u64(..));
        let mut ids = Vec::new();
        let block = 1000 * MIB;
        let mut offset = 0;
        let mut number = 1;
        while offset < size {
            let end = (offset + block).min(size);
            let id = block_id(&upload, number, UNSEEN);
            let mut block_url = url.clone();
            block_url
                .query_pairs_mut()
                .append_pair("comp", "block")
                .append_pair("blockid", &azure_core::base64::encode(id.as_bytes()));
            self.raw(
                Method::Put,
                block_url,
                &[
                    ("x-ms-copy-source", source.to_owned()),
                    ("x-ms-source-range", format!("bytes={offset}-{}", end - 1)),
                ],
                Bytes::new(),
                &path,
            )
            .await?;
            ids.push(PartId {
                number,
                content_id: UNSEEN.to_owned(),
            });
            offset = end;
            number += 1;
        }
        Box::new(BlockUpload {
            store: self.clone(),
            key: key.to_owned(),
            id: upload,
            content_md5: None,
        })
        .complete(ids)
        .await
    }

    /// The upload `upload_id` of `key` reopened, with the blocks it staged.
    pub(super) async fn resume_blocks(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<(Box<dyn MultipartUpload>, Vec<StoredPart>)> {
        let path = self.path(key);
        self.blob_url(key)?;
        let list = match self
            .block_client(key)
            .get_block_list(BlockListType::Uncommitted, None)
            .await
        {
            Ok(r) => r.into_model().map_err(|e| map(&path, e))?,
            Err(e) => return Err(map(&path, e)),
        };
        let mut parts: Vec<StoredPart> = list
            .uncommitted_blocks
            .unwrap_or_default()
            .into_iter()
            .filter_map(|b| {
                let name = b.name?;
                let (upload, number, md5) = parse_block_id(&name)?;
                (upload == upload_id).then(|| StoredPart {
                    number,
                    size: u64::try_from(b.size.unwrap_or(0)).unwrap_or(0),
                    content_id: md5.to_owned(),
                })
            })
            .collect();
        parts.sort_by_key(|p| p.number);
        Ok((
            Box::new(BlockUpload {
                store: self.clone(),
                key: key.to_owned(),
                id: upload_id.to_owned(),
                content_md5: None,
            }),
            parts,
        ))
    }
}

/// A block upload.
#[derive(Debug)]
struct BlockUpload {
    store: AzureStore,
    key: String,
    id: String,
    /// The whole blob's MD5, set as its Content-MD5 at commit (Azure does not compute one for
    /// a block list).
    content_md5: Option<[u8; 16]>,
}

#[async_trait]
impl MultipartUpload for BlockUpload {
    fn id(&self) -> &str {
        &self.id
    }

    fn put_part(
        &self,
        number: u32,
        offset: u64,
        data: Bytes,
    ) -> BoxFuture<'static, Result<PartId>> {
        let _ = offset;
        let client = self.store.block_client(&self.key);
        let path = self.store.path(&self.key);
        let upload = self.id.clone();
        Box::pin(async move {
            // The block's MD5, which the service checks, off the async threads (16 MiB take
            // ~20 ms).
            let hashed = data.clone();
            let md5 = tokio::task::spawn_blocking(move || {
                use md5::Digest;
                md5::Md5::digest(&hashed).to_vec()
            })
            .await
            .map_err(|e| Error::Generic {
                path: path.clone(),
                source: Box::new(e),
            })?;
            let md5_hex = hex::encode(&md5);
            let id = block_id(&upload, number, &md5_hex);
            let options = BlockBlobClientStageBlockOptions {
                transactional_content_md5: Some(md5),
                ..Default::default()
            };
            let len = data.len() as u64;
            let body: RequestContent<Bytes, azure_core::http::NoFormat> = data.into();
            client
                .stage_block(id.as_bytes(), len, body, Some(options))
                .await
                .map_err(|e| map(&path, e))?;
            Ok(PartId {
                number,
                content_id: md5_hex,
            })
        })
    }

    fn set_content_md5(&mut self, md5: [u8; 16]) {
        self.content_md5 = Some(md5);
    }

    async fn complete(self: Box<Self>, parts: Vec<PartId>) -> Result<PutResult> {
        let path = self.store.path(&self.key);
        let list = BlockLookupList {
            latest: Some(
                parts
                    .iter()
                    .map(|p| block_id(&self.id, p.number, &p.content_id).into_bytes())
                    .collect(),
            ),
            ..Default::default()
        };
        let body = RequestContent::try_from(list).map_err(|e| map(&path, e))?;
        let resp = self
            .store
            .block_client(&self.key)
            .commit_block_list(
                body,
                Some(BlockBlobClientCommitBlockListOptions {
                    blob_content_md5: self.content_md5.map(|m| m.to_vec()),
                    ..Default::default()
                }),
            )
            .await
            .map_err(|e| map(&path, e))?;
        // The commit's answer names the new blob's ETag: no HEAD after it.
        use azure_storage_blob::models::BlockBlobClientCommitBlockListResultHeaders;
        Ok(PutResult {
            e_tag: resp
                .etag()
                .ok()
                .flatten()
                .map(|e| e.to_string().trim_matches('"').to_owned()),
            version: resp.version_id().ok().flatten(),
        })
    }

    async fn abort(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}
