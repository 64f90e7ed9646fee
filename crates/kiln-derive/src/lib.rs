//! `#[derive(Options)]`: a plugin's options declared once, as a struct.
//!
//! Each named field is one option. Its name (the field's, or
//! `#[option(name = "...")]`), its kind (from the field's Rust type, through
//! `kiln::plugin::OptionValue`), its default (`#[option(default = expr)]`,
//! else `Default::default()`, Go's zero value) and its doc (the `///`
//! comment) come from that one declaration; `#[option(no_effect = "why")]`
//! marks an option Packer has that means nothing in kiln (accepted, with a
//! warning that says why). The derive writes:
//!
//! - `Options::FIELDS`, the schema the front ends check arguments against
//!   ("Unsupported argument", "did you mean") and convert values by, at the
//!   value's span;
//! - `Options::from_config`, which reads a decoded configuration into the
//!   struct;
//! - `OptionValue` for the struct itself, so it can be a nested block
//!   (`Option<Sub>`: a block that may appear once, `Vec<Sub>`: one that
//!   repeats).
//!
//! Packer writes its schema with `go generate` from struct tags
//! (`mapstructure:"name"`); a derive keeps the schema and the struct in one
//! place without a generated file to keep in step.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::quote;
use syn::{parse_macro_input, Data, DeriveInput, Expr, Fields, Lit, LitStr};

#[proc_macro_derive(Options, attributes(option))]
pub fn derive_options(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(&input) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// What one field's `#[option(...)]` attributes and doc comment say.
struct Opt {
    name: String,
    default: Option<Expr>,
    doc: String,
    no_effect: String,
}

fn field_opt(field: &syn::Field) -> syn::Result<Opt> {
    let ident = field.ident.as_ref().expect("named field");
    let mut opt = Opt {
        name: ident.to_string().trim_start_matches("r#").to_string(),
        default: None,
        doc: String::new(),
        no_effect: String::new(),
    };
    let mut doc = Vec::new();
    for attr in &field.attrs {
        if attr.path().is_ident("doc") {
            if let syn::Meta::NameValue(nv) = &attr.meta {
                if let Expr::Lit(syn::ExprLit {
                    lit: Lit::Str(s), ..
                }) = &nv.value
                {
                    doc.push(s.value().trim().to_string());
                }
            }
        } else if attr.path().is_ident("option") {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("name") {
                    let s: LitStr = meta.value()?.parse()?;
                    opt.name = s.value();
                    Ok(())
                } else if meta.path.is_ident("default") {
                    opt.default = Some(meta.value()?.parse()?);
                    Ok(())
                } else if meta.path.is_ident("no_effect") {
                    let s: LitStr = meta.value()?.parse()?;
                    opt.no_effect = s.value();
                    Ok(())
                } else {
                    Err(meta.error(
                        "expected `name = \"...\"`, `default = expr` or `no_effect = \"why\"`",
                    ))
                }
            })?;
        }
    }
    opt.doc = doc.join(" ").trim().to_string();
    Ok(opt)
}

/// A default as the field's type: a string literal becomes a `String`
/// (`default = "/tmp"`), anything else is used as written.
fn default_expr(default: &Option<Expr>) -> Tokens {
    match default {
        Some(Expr::Lit(syn::ExprLit {
            lit: Lit::Str(s), ..
        })) => quote!(::std::string::String::from(#s)),
        Some(e) => quote!(#e),
        None => quote!(::std::default::Default::default()),
    }
}

fn expand(input: &DeriveInput) -> syn::Result<Tokens> {
    let ident = &input.ident;
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            ident,
            "Options can only be derived for a struct",
        ));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new_spanned(
            ident,
            "Options needs a struct with named fields",
        ));
    };
    let mut schema = Vec::new();
    let mut reads = Vec::new();
    for field in &fields.named {
        let opt = field_opt(field)?;
        let fident = &field.ident;
        let ty = &field.ty;
        let (name, doc, no_effect) = (&opt.name, &opt.doc, &opt.no_effect);
        schema.push(quote! {
            crate::plugin::Field {
                name: #name,
                kind: <#ty as crate::plugin::OptionValue>::KIND,
                doc: #doc,
                no_effect: #no_effect,
            }
        });
        let default = default_expr(&opt.default);
        reads.push(quote! {
            #fident: match crate::plugin::options::read::<#ty>(config, #name)? {
                ::std::option::Option::Some(v) => v,
                ::std::option::Option::None => #default,
            }
        });
    }
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics crate::plugin::Options for #ident #ty_generics #where_clause {
            const FIELDS: &'static [crate::plugin::Field] = &[#(#schema),*];

            fn from_config(
                config: &crate::graph::Config,
            ) -> ::std::result::Result<Self, ::std::string::String> {
                ::std::result::Result::Ok(#ident { #(#reads),* })
            }
        }

        impl #impl_generics crate::plugin::OptionValue for #ident #ty_generics #where_clause {
            const KIND: crate::plugin::Kind =
                crate::plugin::Kind::Block(<Self as crate::plugin::Options>::FIELDS);

            fn from_value(
                value: &crate::value::Value,
            ) -> ::std::result::Result<::std::option::Option<Self>, ::std::string::String> {
                crate::plugin::options::block(value)
            }
        }
    })
}
