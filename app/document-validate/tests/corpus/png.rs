//! PNG documents from real producers: every one the reference tool accepts is accepted here.
