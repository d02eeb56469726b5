//! Just enough of the protobuf wire format and of ONNX's messages to read a
//! small convolutional model: graph nodes, their attributes and the
//! initialiser tensors. Unknown fields are skipped, as protobuf intends, so a
//! newer exporter's extra fields cost nothing.

use crate::Error;

/// One field as it sits on the wire.
enum Value<'a> {
    Varint(u64),
    /// A 64-bit field (a double): no field this reader uses has one, so
    /// its bits are skipped, not mistaken for another kind.
    Fixed64,
    Fixed32(u32),
    Bytes(&'a [u8]),
}

/// Walks the fields of one message.
struct Fields<'a> {
    buf: &'a [u8],
}

impl<'a> Fields<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Fields { buf }
    }

    fn varint(&mut self) -> Result<u64, Error> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self.buf.split_first().ok_or(Error::Model("truncated varint"))?;
            self.buf = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Error::Model("varint longer than 10 bytes"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if n > self.buf.len() {
            return Err(Error::Model("field runs past the end of its message"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// The next field's number and value, or `None` at the end.
    fn next_field(&mut self) -> Result<Option<(u32, Value<'a>)>, Error> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = (key >> 3) as u32;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Fixed64
            }
            2 => {
                let len = self.varint()? as usize;
                Value::Bytes(self.take(len)?)
            }
            5 => {
                let b = self.take(4)?;
                Value::Fixed32(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            _ => return Err(Error::Model("unsupported protobuf wire type")),
        };
        Ok(Some((number, value)))
    }
}

fn text(bytes: &[u8]) -> Result<String, Error> {
    core::str::from_utf8(bytes).map(str::to_owned).map_err(|_| Error::Model("a name is not UTF-8"))
}

/// Appends repeated int64s, packed (one length-delimited run) or not.
fn push_ints(out: &mut Vec<i64>, value: Value<'_>) -> Result<(), Error> {
    match value {
        Value::Varint(v) => out.push(v as i64),
        Value::Bytes(packed) => {
            let mut run = Fields::new(packed);
            while !run.buf.is_empty() {
                out.push(run.varint()? as i64);
            }
        }
        Value::Fixed32(_) | Value::Fixed64 => return Err(Error::Model("int64 field written as a fixed-width number")),
    }
    Ok(())
}

/// Appends repeated floats, packed or not.
fn push_floats(out: &mut Vec<f32>, value: Value<'_>) -> Result<(), Error> {
    match value {
        Value::Fixed32(bits) => out.push(f32::from_bits(bits)),
        Value::Bytes(packed) => {
            if packed.len() % 4 != 0 {
                return Err(Error::Model("packed floats not a multiple of 4 bytes"));
            }
            out.extend(packed.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
        }
        Value::Varint(_) | Value::Fixed64 => return Err(Error::Model("float field written as a varint or a double")),
    }
    Ok(())
}

/// ONNX `TensorProto.DataType` values this reader understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataType {
    Float,
    Int8,
    Int64,
}

/// A constant tensor, its values widened to one of two element kinds.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorProto {
    pub name: String,
    pub dims: Vec<usize>,
    pub data: TensorData,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    /// FLOAT, and INT8 widened (exactly) to f32 for dequantisation.
    Float(Vec<f32>),
    Int(Vec<i64>),
}

impl TensorProto {
    fn parse(buf: &[u8]) -> Result<Self, Error> {
        let (mut name, mut dims, mut kind) = (String::new(), Vec::new(), None);
        let (mut raw, mut floats, mut ints32, mut ints64) = (None, Vec::new(), Vec::new(), Vec::new());
        let mut fields = Fields::new(buf);
        while let Some((number, value)) = fields.next_field()? {
            match (number, value) {
                (1, v) => push_ints(&mut dims, v)?,
                (2, Value::Varint(t)) => {
                    kind = Some(match t {
                        1 => DataType::Float,
                        3 => DataType::Int8,
                        7 => DataType::Int64,
                        _ => return Err(Error::Model("a tensor's data type is not float, int8 or int64")),
                    })
                }
                (4, v) => push_floats(&mut floats, v)?,
                (5, v) => push_ints(&mut ints32, v)?,
                (7, v) => push_ints(&mut ints64, v)?,
                (8, Value::Bytes(b)) => name = text(b)?,
                (9, Value::Bytes(b)) => raw = Some(b),
                (13, _) => return Err(Error::Model("tensors stored outside the model file are not supported")),
                _ => {}
            }
        }
        let dims: Vec<usize> = dims
            .into_iter()
            .map(|d| usize::try_from(d).map_err(|_| Error::Model("negative tensor dimension")))
            .collect::<Result<_, _>>()?;
        let count: usize = dims.iter().product();
        let data = match (kind.ok_or(Error::Model("a tensor has no data type"))?, raw) {
            (DataType::Float, Some(raw)) => {
                let mut out = Vec::with_capacity(count);
                push_floats(&mut out, Value::Bytes(raw))?;
                TensorData::Float(out)
            }
            (DataType::Float, None) => TensorData::Float(floats),
            (DataType::Int8, Some(raw)) => TensorData::Float(raw.iter().map(|&b| f32::from(b as i8)).collect()),
            (DataType::Int8, None) => TensorData::Float(ints32.iter().map(|&v| v as i8 as f32).collect()),
            (DataType::Int64, Some(raw)) => {
                if raw.len() % 8 != 0 {
                    return Err(Error::Model("raw int64 data not a multiple of 8 bytes"));
                }
                TensorData::Int(
                    raw.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8]))).collect(),
                )
            }
            (DataType::Int64, None) => TensorData::Int(ints64),
        };
        let len = match &data {
            TensorData::Float(v) => v.len(),
            TensorData::Int(v) => v.len(),
        };
        if len != count {
            return Err(Error::Model("a tensor's data does not match its dimensions"));
        }
        Ok(TensorProto { name, dims, data })
    }
}

/// A node attribute's value (the kinds YuNet-like graphs use).
#[derive(Clone, Debug, PartialEq)]
pub enum Attribute {
    Int(i64),
    Float(f32),
    Ints(Vec<i64>),
    Floats(Vec<f32>),
    Text(String),
    Tensor(TensorProto),
}

#[derive(Clone, Debug, PartialEq)]
pub struct NodeProto {
    pub op_type: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attributes: Vec<(String, Attribute)>,
}

impl NodeProto {
    fn parse(buf: &[u8]) -> Result<Self, Error> {
        let mut node = NodeProto { op_type: String::new(), inputs: vec![], outputs: vec![], attributes: vec![] };
        let mut fields = Fields::new(buf);
        while let Some((number, value)) = fields.next_field()? {
            match (number, value) {
                (1, Value::Bytes(b)) => node.inputs.push(text(b)?),
                (2, Value::Bytes(b)) => node.outputs.push(text(b)?),
                (4, Value::Bytes(b)) => node.op_type = text(b)?,
                (5, Value::Bytes(b)) => node.attributes.push(parse_attribute(b)?),
                (7, Value::Bytes(b)) if !b.is_empty() && b != b"ai.onnx" => {
                    return Err(Error::Model("an operator outside the default ONNX domain"))
                }
                _ => {}
            }
        }
        Ok(node)
    }

    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|(n, _)| n == name).map(|(_, a)| a)
    }

    pub fn int(&self, name: &str, default: i64) -> Result<i64, Error> {
        match self.attribute(name) {
            None => Ok(default),
            Some(Attribute::Int(v)) => Ok(*v),
            Some(_) => Err(Error::Model("an integer attribute of another kind")),
        }
    }

    pub fn float(&self, name: &str, default: f32) -> Result<f32, Error> {
        match self.attribute(name) {
            None => Ok(default),
            Some(Attribute::Float(v)) => Ok(*v),
            Some(_) => Err(Error::Model("a float attribute of another kind")),
        }
    }

    pub fn ints(&self, name: &str) -> Result<Option<&[i64]>, Error> {
        match self.attribute(name) {
            None => Ok(None),
            Some(Attribute::Ints(v)) => Ok(Some(v)),
            Some(_) => Err(Error::Model("an integer-list attribute of another kind")),
        }
    }

    pub fn text(&self, name: &str) -> Result<Option<&str>, Error> {
        match self.attribute(name) {
            None => Ok(None),
            Some(Attribute::Text(v)) => Ok(Some(v)),
            Some(_) => Err(Error::Model("a string attribute of another kind")),
        }
    }
}

fn parse_attribute(buf: &[u8]) -> Result<(String, Attribute), Error> {
    let (mut name, mut f, mut i, mut s, mut t, mut ints, mut floats, mut kind) =
        (String::new(), None, None, None, None, Vec::new(), Vec::new(), 0);
    let mut fields = Fields::new(buf);
    while let Some((number, value)) = fields.next_field()? {
        match (number, value) {
            (1, Value::Bytes(b)) => name = text(b)?,
            (2, Value::Fixed32(bits)) => f = Some(f32::from_bits(bits)),
            (3, Value::Varint(v)) => i = Some(v as i64),
            (4, Value::Bytes(b)) => s = Some(text(b)?),
            (5, Value::Bytes(b)) => t = Some(TensorProto::parse(b)?),
            (7, v) => push_floats(&mut floats, v)?,
            (8, v) => push_ints(&mut ints, v)?,
            (20, Value::Varint(v)) => kind = v,
            _ => {}
        }
    }
    // AttributeProto.AttributeType: FLOAT 1, INT 2, STRING 3, TENSOR 4, FLOATS 6, INTS 7.
    let attribute = match kind {
        1 => Attribute::Float(f.unwrap_or(0.0)),
        2 => Attribute::Int(i.unwrap_or(0)),
        3 => Attribute::Text(s.unwrap_or_default()),
        4 => Attribute::Tensor(t.ok_or(Error::Model("a tensor attribute without its tensor"))?),
        7 => Attribute::Ints(ints),
        6 => Attribute::Floats(floats),
        _ => return Err(Error::Model("an attribute of an unsupported kind")),
    };
    Ok((name, attribute))
}

/// The graph of a model: nodes in ONNX's topological order, constants, and
/// the names of its inputs and outputs.
#[derive(Debug, Default)]
pub struct GraphProto {
    pub nodes: Vec<NodeProto>,
    pub initializers: Vec<TensorProto>,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

/// Reads an ONNX model file's graph.
pub fn parse_model(bytes: &[u8]) -> Result<GraphProto, Error> {
    let mut fields = Fields::new(bytes);
    let mut graph = None;
    while let Some((number, value)) = fields.next_field()? {
        if let (7, Value::Bytes(b)) = (number, value) {
            graph = Some(parse_graph(b)?);
        }
    }
    graph.ok_or(Error::Model("not an ONNX model: no graph"))
}

fn value_info_name(buf: &[u8]) -> Result<String, Error> {
    let mut fields = Fields::new(buf);
    while let Some((number, value)) = fields.next_field()? {
        if let (1, Value::Bytes(b)) = (number, value) {
            return text(b);
        }
    }
    Err(Error::Model("a graph input or output without a name"))
}

fn parse_graph(buf: &[u8]) -> Result<GraphProto, Error> {
    let mut graph = GraphProto::default();
    let mut fields = Fields::new(buf);
    while let Some((number, value)) = fields.next_field()? {
        match (number, value) {
            (1, Value::Bytes(b)) => graph.nodes.push(NodeProto::parse(b)?),
            (5, Value::Bytes(b)) => graph.initializers.push(TensorProto::parse(b)?),
            (11, Value::Bytes(b)) => graph.inputs.push(value_info_name(b)?),
            (12, Value::Bytes(b)) => graph.outputs.push(value_info_name(b)?),
            _ => {}
        }
    }
    Ok(graph)
}
