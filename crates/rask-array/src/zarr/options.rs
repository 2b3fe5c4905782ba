//! How [`Array::to_zarr_with`](crate::Array::to_zarr_with) writes a
//! store: [`ZarrWriteOptions`] and [`ZarrCompression`].

/// How each chunk of a Zarr array rask writes is compressed.
///
/// zarr-python's default for new arrays is `Zstd { level: 0 }` (zstd's
/// default level, 3); rask's [`Array::to_zarr`](crate::Array::to_zarr) keeps chunks uncompressed
/// unless asked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ZarrCompression {
    /// No compression: the `bytes` codec only.
    #[default]
    None,
    /// The `gzip` codec at this level (0–9).
    Gzip(u32),
    /// The `zstd` codec at this level (-131072 to 22; 0 is zstd's default,
    /// 3), without checksums, as zarr-python writes it.
    Zstd(i32),
}

/// How [`Array::to_zarr_with`](crate::Array::to_zarr_with) writes a store: overwrite, compression and
/// attributes.
///
/// ```
/// # use rask_local as _;
/// use rask_array::zarr::{ZarrCompression, ZarrWriteOptions};
/// let opts = ZarrWriteOptions::new()
///     .overwrite(true)
///     .zstd(3)
///     .attribute("units", "DN")
///     .attribute("wavelength_nm", 617.3)
///     .dimension_names(["t", "y", "x"]);
/// assert!(opts.overwrites());
/// assert_eq!(opts.compression(), ZarrCompression::Zstd(3));
/// assert_eq!(opts.attributes()["units"], "DN");
/// assert_eq!(ZarrWriteOptions::new().gzip(5).gzip_level(), Some(5));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZarrWriteOptions {
    overwrite: bool,
    compression: ZarrCompression,
    attributes: serde_json::Map<String, serde_json::Value>,
    dimension_names: Option<Vec<String>>,
}

impl ZarrWriteOptions {
    /// The defaults: fail when the path exists; no compression; no
    /// attributes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether to replace a Zarr store (or an empty directory) already at
    /// the path, like Dask's `to_zarr(overwrite=True)`. Anything else at
    /// the path is never deleted.
    #[must_use]
    pub fn overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = overwrite;
        self
    }

    /// Compresses each chunk as `compression` says.
    #[must_use]
    pub fn compress(mut self, compression: ZarrCompression) -> Self {
        self.compression = compression;
        self
    }

    /// Compresses each chunk with gzip at `level` (0–9).
    #[must_use]
    pub fn gzip(self, level: u32) -> Self {
        self.compress(ZarrCompression::Gzip(level))
    }

    /// Compresses each chunk with zstd at `level` (0 is zstd's default
    /// level, as zarr-python's default codec `ZstdCodec(level=0)`).
    #[must_use]
    pub fn zstd(self, level: i32) -> Self {
        self.compress(ZarrCompression::Zstd(level))
    }

    /// Adds the attribute `key` (any JSON value: units, world coordinates,
    /// a header) to the array's metadata, where zarr-python reads it as
    /// `z.attrs[key]`; a later value for the same key replaces the
    /// earlier.
    #[must_use]
    pub fn attribute(
        mut self,
        key: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> Self {
        self.attributes.insert(key.into(), value.into());
        self
    }

    /// Adds every attribute of `attributes` (see [`ZarrWriteOptions::attribute`]).
    #[must_use]
    pub fn attributes_from(
        mut self,
        attributes: serde_json::Map<String, serde_json::Value>,
    ) -> Self {
        self.attributes.extend(attributes);
        self
    }

    /// Names the axes (Zarr v3 `dimension_names`, which xarray reads as
    /// its dimensions): one name per axis of the array written.
    #[must_use]
    pub fn dimension_names<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.dimension_names = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Whether an existing store at the path is replaced.
    pub fn overwrites(&self) -> bool {
        self.overwrite
    }

    /// How chunks are compressed.
    pub fn compression(&self) -> ZarrCompression {
        self.compression
    }

    /// The gzip level, if chunks are compressed with gzip.
    pub fn gzip_level(&self) -> Option<u32> {
        match self.compression {
            ZarrCompression::Gzip(level) => Some(level),
            _ => None,
        }
    }

    /// The attributes written into the array's metadata.
    pub fn attributes(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.attributes
    }

    /// The axes' names, if given.
    pub fn axis_names(&self) -> Option<&[String]> {
        self.dimension_names.as_deref()
    }
}
