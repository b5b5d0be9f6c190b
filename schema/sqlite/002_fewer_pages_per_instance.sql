-- Stowage index schema for SQLite, version 2: fewer B-trees written per stored instance.
--
-- Every commit writes each page it touches to the write-ahead log, and a stored instance used
-- to touch about 35 of them. Two changes bring that down:
--  * MainDicomTags, Metadata, AttachedFiles and Labels are stored in the order of their
--    primary key (WITHOUT ROWID): one B-tree each, where a rowid table had two (the table and
--    the index of its key).
--  * The index on main tag values as stored (MainDicomTagsValue) is dropped. Look-ups go
--    through the case-folded index (MainDicomTagsNormalized), then compare the stored value:
--    a value equal to, or matching, what is asked folds to something equal to, or matching,
--    the folded question. Each instance thus adds one entry per main tag instead of two.

CREATE TABLE MainDicomTags2(
    id INTEGER NOT NULL REFERENCES Resources(internalId) ON DELETE CASCADE,
    tagGroup INTEGER NOT NULL,
    tagElement INTEGER NOT NULL,
    value TEXT NOT NULL,
    normalized TEXT NOT NULL,
    PRIMARY KEY(id, tagGroup, tagElement)
) WITHOUT ROWID;
INSERT INTO MainDicomTags2(id, tagGroup, tagElement, value, normalized)
    SELECT id, tagGroup, tagElement, value, normalized FROM MainDicomTags;
DROP TABLE MainDicomTags;
ALTER TABLE MainDicomTags2 RENAME TO MainDicomTags;
CREATE INDEX MainDicomTagsNormalized ON MainDicomTags(tagGroup, tagElement, normalized);

CREATE TABLE Metadata2(
    id INTEGER NOT NULL REFERENCES Resources(internalId) ON DELETE CASCADE,
    type INTEGER NOT NULL,
    value TEXT NOT NULL,
    revision INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(id, type)
) WITHOUT ROWID;
INSERT INTO Metadata2(id, type, value, revision)
    SELECT id, type, value, revision FROM Metadata;
DROP TABLE Metadata;
ALTER TABLE Metadata2 RENAME TO Metadata;

CREATE TABLE AttachedFiles2(
    id INTEGER NOT NULL REFERENCES Resources(internalId) ON DELETE CASCADE,
    fileType INTEGER NOT NULL,
    uuid TEXT NOT NULL,
    compressedSize INTEGER NOT NULL,
    uncompressedSize INTEGER NOT NULL,
    compressionType INTEGER NOT NULL,
    uncompressedMD5 TEXT NOT NULL,
    compressedMD5 TEXT NOT NULL,
    revision INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(id, fileType)
) WITHOUT ROWID;
INSERT INTO AttachedFiles2(id, fileType, uuid, compressedSize, uncompressedSize,
                           compressionType, uncompressedMD5, compressedMD5, revision)
    SELECT id, fileType, uuid, compressedSize, uncompressedSize,
           compressionType, uncompressedMD5, compressedMD5, revision FROM AttachedFiles;
DROP TABLE AttachedFiles;
ALTER TABLE AttachedFiles2 RENAME TO AttachedFiles;

CREATE TABLE Labels2(
    id INTEGER NOT NULL REFERENCES Resources(internalId) ON DELETE CASCADE,
    label TEXT NOT NULL,
    PRIMARY KEY(id, label)
) WITHOUT ROWID;
INSERT INTO Labels2(id, label) SELECT id, label FROM Labels;
DROP TABLE Labels;
ALTER TABLE Labels2 RENAME TO Labels;
CREATE INDEX LabelsIndex ON Labels(label);
